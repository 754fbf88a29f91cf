// @vitest-environment node
import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import type { SendInput } from '$lib/schemas';
import { openUserDb, type DuetDb } from './db';
import { ACK_TIMEOUT_MS, deleteUnsent, enqueueMessage, MAX_ATTEMPTS, OutboxScheduler, retryMessage } from './outbox';
import { freshDb, ManualClock } from './test-db';

const A = '00000000-0000-4000-8000-00000000000a';
const B = '00000000-0000-4000-8000-00000000000b';

function setup(db: DuetDb = freshDb(), random = () => 0.5) {
	const clock = new ManualClock();
	const sent: SendInput[] = [];
	let connected = true;
	let wake: number | null = null;
	const scheduler = new OutboxScheduler({
		db,
		send: (frame) => {
			if (!connected) return false;
			sent.push(frame);
			return true;
		},
		now: clock.now,
		random,
		wakeAt: (at) => (wake = at)
	});
	return {
		db,
		clock,
		sent,
		scheduler,
		wake: () => wake,
		setLink: (up: boolean) => (connected = up),
		enqueue: (conversationId: string, body: string) => enqueueMessage(db, { conversationId, senderId: 'me', body }, clock.now)
	};
}

const ack = (m: { id: string; conversationId: string }, seq: number) => ({
	id: m.id,
	conversationId: m.conversationId,
	seq,
	createdAt: new Date(0).toISOString()
});

describe('enqueueMessage', () => {
	it('writes the message as sending and allocates clientSeq 1, 2, 3 per conversation', async () => {
		const { db, enqueue } = setup();
		const a1 = await enqueue(A, 'one');
		const b1 = await enqueue(B, 'other');
		const a2 = await enqueue(A, 'two');
		expect([a1.clientSeq, a2.clientSeq, b1.clientSeq]).toEqual([1, 2, 1]);
		expect(a1.clientId).toBe(b1.clientId);
		expect((await db.messages.get(a1.id))?.status).toBe('sending');
		expect(await db.outbox.count()).toBe(3);
	});

	it('never hands out the same clientSeq to two connections (two tabs) writing at once', async () => {
		const name = `tabs-${Date.now()}`;
		const tab1 = openUserDb(name);
		const tab2 = openUserDb(name);
		const writes = Array.from({ length: 40 }, (_, i) =>
			enqueueMessage(i % 2 ? tab1 : tab2, { conversationId: A, senderId: 'me', body: `m${i}` })
		);
		const seqs = (await Promise.all(writes)).map((m) => m.clientSeq).sort((x, y) => x - y);
		expect(seqs).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
		expect(new Set((await Promise.all(writes)).map((m) => m.clientId)).size).toBe(1);
		tab1.close();
		tab2.close();
	});
});

describe('OutboxScheduler', () => {
	it('sends in clientSeq order per conversation and clears each item on its ack', async () => {
		const t = setup();
		const msgs = [await t.enqueue(A, 'a1'), await t.enqueue(B, 'b1'), await t.enqueue(A, 'a2'), await t.enqueue(A, 'a3')];
		await t.scheduler.setConnected(true);
		const forA = t.sent.filter((f) => f.conversationId === A).map((f) => [f.body, f.clientSeq]);
		expect(forA).toEqual([
			['a1', 1],
			['a2', 2],
			['a3', 3]
		]);
		expect(t.sent).toHaveLength(4);

		// A second pass while acks are outstanding sends nothing twice.
		await t.scheduler.run();
		expect(t.sent).toHaveLength(4);

		for (const [i, m] of msgs.entries()) await t.scheduler.onAck(ack(m, i + 1));
		expect(await t.db.outbox.count()).toBe(0);
		const row = await t.db.messages.get(msgs[0].id);
		expect(row).toMatchObject({ status: 'sent', seq: 1 });
	});

	it('costs no attempt while offline and sends everything at once on reconnect', async () => {
		const t = setup();
		await t.scheduler.setConnected(false);
		await t.enqueue(A, 'x');
		await t.enqueue(A, 'y');
		await t.scheduler.run();
		expect(t.sent).toHaveLength(0);
		t.clock.advance(10 * ACK_TIMEOUT_MS);
		await t.scheduler.run();
		expect((await t.db.outbox.toArray()).map((i) => i.attempts)).toEqual([0, 0]);

		await t.scheduler.setConnected(true);
		expect(t.sent.map((f) => f.body)).toEqual(['x', 'y']);
	});

	it('re-sends what was in flight when the connection drops, without counting an attempt', async () => {
		const t = setup();
		const m = await t.enqueue(A, 'hello');
		await t.scheduler.setConnected(true);
		await t.scheduler.setConnected(false);
		await t.scheduler.setConnected(true);
		expect(t.sent.map((f) => f.id)).toEqual([m.id, m.id]);
		expect((await t.db.outbox.get(m.id))?.attempts).toBe(0);
	});

	it('retries a timed-out send after a full-jitter backoff, and holds later ones behind it', async () => {
		const t = setup(undefined, () => 0.5);
		const first = await t.enqueue(A, 'first');
		await t.scheduler.setConnected(true);
		const second = await t.enqueue(A, 'second');
		const other = await t.enqueue(B, 'other conversation');
		t.clock.advance(ACK_TIMEOUT_MS);
		await t.scheduler.run();
		const item = await t.db.outbox.get(first.id);
		expect(item).toMatchObject({ attempts: 1, state: 'queued' });
		// Attempt 1 waits half (random 0.5) of the 1 s ceiling.
		expect(item!.nextAttemptAt - t.clock.ms).toBe(500);
		// 'second' may not overtake 'first'; the other conversation is not held back.
		expect(t.sent.map((f) => f.body)).toEqual(['first', 'other conversation']);
		expect(t.wake()).toBe(item!.nextAttemptAt);

		t.clock.advance(500);
		await t.scheduler.run();
		expect(t.sent.map((f) => f.body)).toEqual(['first', 'other conversation', 'first', 'second']);
		await t.scheduler.onAck(ack(first, 1));
		await t.scheduler.onAck(ack(second, 2));
		await t.scheduler.onAck(ack(other, 1));
		expect(await t.db.outbox.count()).toBe(0);
	});

	it('backs off further each time, up to the cap, then marks the message failed', async () => {
		const t = setup(undefined, () => 0.999);
		const m = await t.enqueue(A, 'doomed');
		await t.scheduler.setConnected(true);
		const waits: number[] = [];
		for (let attempt = 1; attempt < MAX_ATTEMPTS; attempt++) {
			t.clock.advance(ACK_TIMEOUT_MS);
			await t.scheduler.run();
			const item = (await t.db.outbox.get(m.id))!;
			expect(item.attempts).toBe(attempt);
			waits.push(item.nextAttemptAt - t.clock.ms);
			t.clock.advance(item.nextAttemptAt - t.clock.ms);
			await t.scheduler.run();
		}
		expect(waits).toEqual([999, 1998, 3996, 7992, 15984, 29970, 29970]);
		t.clock.advance(ACK_TIMEOUT_MS);
		await t.scheduler.run();
		expect((await t.db.outbox.get(m.id))?.state).toBe('failed');
		expect((await t.db.messages.get(m.id))?.status).toBe('failed');
		expect(t.sent).toHaveLength(MAX_ATTEMPTS);
	});

	it('fails at once on a permanent error, and the failed message does not block the next', async () => {
		const t = setup();
		const bad = await t.enqueue(A, 'bad');
		const good = await t.enqueue(A, 'good');
		await t.scheduler.setConnected(true);
		await t.scheduler.onError(bad.id, 'conflict', 'Id reused');
		expect((await t.db.messages.get(bad.id))?.status).toBe('failed');
		await t.scheduler.onAck(ack(good, 1));
		const later = await t.enqueue(A, 'later');
		await t.scheduler.run();
		expect(t.sent.map((f) => f.body)).toEqual(['bad', 'good', 'later']);
		expect(later.clientSeq).toBe(3);
	});

	it('takes forbidden (a block) as final: failed once, never resent, other conversations and later sends go on', async () => {
		const t = setup();
		const refused = await t.enqueue(A, 'to someone who blocks me');
		const other = await t.enqueue(B, 'elsewhere');
		await t.scheduler.setConnected(true);
		await t.scheduler.onError(refused.id, 'forbidden', 'You cannot send to this person.');
		expect((await t.db.messages.get(refused.id))?.status).toBe('failed');
		expect((await t.db.outbox.get(refused.id))?.state).toBe('failed');
		await t.scheduler.onAck(ack(other, 1));
		await t.enqueue(A, 'next');
		t.clock.advance(10 * ACK_TIMEOUT_MS);
		await t.scheduler.run();
		expect(t.sent.map((f) => f.body)).toEqual(['to someone who blocks me', 'elsewhere', 'next']);
		expect((await t.db.messages.get(other.id))?.status).toBe('sent');
	});

	it('waits at least retry-after on rate_limited', async () => {
		const t = setup(undefined, () => 0);
		const m = await t.enqueue(A, 'slow down');
		await t.scheduler.setConnected(true);
		await t.scheduler.onError(m.id, 'rate_limited', 'Too fast', 7);
		expect((await t.db.outbox.get(m.id))!.nextAttemptAt - t.clock.ms).toBe(7_000);
	});

	it('retry gives a failed message a fresh budget; delete removes it for good', async () => {
		const t = setup();
		const m = await t.enqueue(A, 'again');
		const gone = await t.enqueue(A, 'gone');
		await t.scheduler.setConnected(true);
		await t.scheduler.onError(m.id, 'bad_request', 'no');
		await t.scheduler.onError(gone.id, 'bad_request', 'no');
		await retryMessage(t.db, m.id);
		expect(await t.db.outbox.get(m.id)).toMatchObject({ state: 'queued', attempts: 0 });
		expect((await t.db.messages.get(m.id))?.status).toBe('sending');
		await t.scheduler.run();
		expect(t.sent.filter((f) => f.id === m.id)).toHaveLength(2);

		await deleteUnsent(t.db, gone.id);
		expect(await t.db.messages.get(gone.id)).toBeUndefined();
		expect(await t.db.outbox.get(gone.id)).toBeUndefined();
	});

	it('survives a reload: a new scheduler over the same database sends what was queued', async () => {
		const db = freshDb();
		const before = setup(db);
		before.setLink(false);
		await before.enqueue(A, 'kept');
		await before.scheduler.setConnected(true); // send() fails: nothing leaves
		const after = setup(db);
		await after.scheduler.setConnected(true);
		expect(after.sent.map((f) => f.body)).toEqual(['kept']);
	});
});
