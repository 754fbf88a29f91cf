// @vitest-environment node
import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { AppError } from '$lib/errors';
import { enqueueMessage, OutboxScheduler } from './outbox';
import { queueChange } from './changes';
import { countUnsent, endServerSession, refusalMessage, unsentMessage, whenDelivered } from './signout';
import { freshDb } from './test-db';

const C = '00000000-0000-4000-8000-00000000000c';

describe('endServerSession', () => {
	it('succeeds when the server ends the session, or has already ended it (401)', async () => {
		expect(await endServerSession(async () => {})).toEqual({ ok: true });
		expect(await endServerSession(() => Promise.reject(new AppError('unauthorized', 'gone')))).toEqual({ ok: true });
	});

	it('refuses, naming why, when the server cannot be reached or fails', async () => {
		const unreachable = () => Promise.reject(new AppError('unavailable', 'The server cannot be reached'));
		expect(await endServerSession(unreachable, () => false)).toEqual({ ok: false, reason: 'offline' });
		expect(await endServerSession(unreachable, () => true)).toEqual({ ok: false, reason: 'unreachable' });
		for (const code of ['internal', 'unavailable', 'rate_limited', 'forbidden'] as const) {
			expect(
				await endServerSession(
					() => Promise.reject(new AppError(code, code)),
					() => true
				)
			).toEqual({ ok: false, reason: 'unreachable' });
		}
		expect(
			await endServerSession(
				() => Promise.reject(new TypeError('Failed to fetch')),
				() => true
			)
		).toEqual({ ok: false, reason: 'unreachable' });
	});

	it('says the user is still signed in', () => {
		expect(refusalMessage('offline')).toMatch(/offline.*can't sign out.*still signed in/);
		expect(refusalMessage('unreachable')).toMatch(/server can't be reached.*still signed in/);
	});
});

describe('unsent messages', () => {
	it('counts queued and failed outbox items', async () => {
		const db = freshDb();
		expect(await countUnsent(db)).toEqual({ queued: 0, failed: 0, changes: 0 });
		const a = await enqueueMessage(db, { conversationId: C, senderId: 'me', body: 'a' });
		const b = await enqueueMessage(db, { conversationId: C, senderId: 'me', body: 'b' });
		await db.outbox.update(a.id, { state: 'failed' });
		expect(await countUnsent(db)).toEqual({ queued: 1, failed: 1, changes: 0 });
		// A change waits with the rest: signing out now would lose it too.
		await queueChange(db, 'me', b, { op: 'react', messageId: b.id, emoji: '👍' });
		expect(await countUnsent(db)).toEqual({ queued: 2, failed: 1, changes: 1 });
	});

	it('words the warning by what is left', () => {
		expect(unsentMessage({ queued: 2, failed: 0, changes: 0 })).toBe("2 messages haven't been sent yet.");
		expect(unsentMessage({ queued: 1, failed: 0, changes: 0 })).toBe("1 message hasn't been sent yet.");
		expect(unsentMessage({ queued: 1, failed: 2, changes: 0 })).toBe("3 messages haven't been sent yet.");
		expect(unsentMessage({ queued: 0, failed: 1, changes: 0 })).toBe('1 message could not be sent.');
		expect(unsentMessage({ queued: 0, failed: 0, changes: 0 })).toBe('All your messages have been sent.');
		expect(unsentMessage({ queued: 3, failed: 0, changes: 2 })).toBe(
			"1 message hasn't been sent yet. 2 edits or reactions haven't been saved yet."
		);
		expect(unsentMessage({ queued: 1, failed: 0, changes: 1 })).toBe("1 edit or reaction hasn't been saved yet.");
	});

	it('whenDelivered resolves once every queued message is acked, not before', async () => {
		const db = freshDb();
		const sent: string[] = [];
		const scheduler = new OutboxScheduler({ db, send: (frame) => (sent.push(frame.id), true) });
		const a = await enqueueMessage(db, { conversationId: C, senderId: 'me', body: 'a' });
		const b = await enqueueMessage(db, { conversationId: C, senderId: 'me', body: 'b' });
		// What it resolves with shows when it resolved: early, it would still count queued ones.
		const done = whenDelivered(db);
		await scheduler.setConnected(true);
		expect(sent).toEqual([a.id, b.id]);
		const ack = (id: string, seq: number) => ({ id, conversationId: C, seq, createdAt: new Date().toISOString() });
		await scheduler.onAck(ack(a.id, 1));
		expect(await countUnsent(db)).toEqual({ queued: 1, failed: 0, changes: 0 });
		await scheduler.onAck(ack(b.id, 2));
		expect(await done).toEqual({ queued: 0, failed: 0, changes: 0 });
	});

	it('whenDelivered reports what failed instead of waiting for it forever', async () => {
		const db = freshDb();
		const a = await enqueueMessage(db, { conversationId: C, senderId: 'me', body: 'a' });
		const done = whenDelivered(db);
		await db.outbox.update(a.id, { state: 'failed' });
		expect(await done).toEqual({ queued: 0, failed: 1, changes: 0 });
	});

	it('whenDelivered stops when the user stops waiting', async () => {
		const db = freshDb();
		await enqueueMessage(db, { conversationId: C, senderId: 'me', body: 'a' });
		const controller = new AbortController();
		const done = whenDelivered(db, controller.signal);
		controller.abort(new Error('cancelled'));
		await expect(done).rejects.toThrow('cancelled');
		expect(await whenDelivered(freshDb())).toEqual({ queued: 0, failed: 0, changes: 0 });
	});
});
