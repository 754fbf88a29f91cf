// @vitest-environment node
import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import type { ClientFrame, MessageChange } from '$lib/schemas';
import type { Message } from '$lib/types';
import { ChangeRefused, ChangeScheduler, dismissChange, queueChange, storeServerCopy } from './changes';
import { META, type DuetDb, type LocalMessage } from './db';
import { ACK_TIMEOUT_MS, MAX_ATTEMPTS } from './delivery';
import { deleteUnsent, enqueueMessage, OutboxScheduler } from './outbox';
import { withPending } from './pending';
import { freshDb, ManualClock } from './test-db';

const ME = 'me';
const PEER = 'peer';
const C = '00000000-0000-4000-8000-0000000000c1';

type ChangeFrame = Extract<ClientFrame, { type: 'change' }>;

function setup(db: DuetDb = freshDb()) {
	const clock = new ManualClock();
	const sent: ChangeFrame[] = [];
	const scheduler = new ChangeScheduler(db, {
		send: (frame) => {
			sent.push(frame);
			return true;
		},
		now: clock.now,
		random: () => 0.5
	});
	return { db, clock, sent, scheduler };
}

let n = 0;
function stored(extra: Partial<Message> = {}): Message {
	n++;
	return {
		id: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
		conversationId: C,
		seq: n,
		senderId: ME,
		clientId: 'x',
		clientSeq: n,
		body: `message ${n}`,
		createdAt: new Date(0).toISOString(),
		replyTo: null,
		editedAt: null,
		deletedAt: null,
		reactions: [],
		attachments: [],
		preview: null,
		version: 0,
		...extra
	};
}

async function put(db: DuetDb, message: Message): Promise<LocalMessage> {
	const row: LocalMessage = { ...message, status: 'sent' };
	await db.messages.put(row);
	return row;
}

/** What the server answers to `change` of `message`. */
function answer(local: LocalMessage, change: MessageChange): Message {
	const { status: _status, ...message } = { ...local, seq: local.seq ?? 0 };
	const version = message.version + 1;
	if (change.op === 'edit') return { ...message, body: change.body, editedAt: new Date(1).toISOString(), version };
	if (change.op === 'delete') return { ...message, body: '', reactions: [], deletedAt: new Date(1).toISOString(), version };
	const reactions = change.op === 'react' ? [{ emoji: change.emoji, userIds: [ME] }] : [];
	return { ...message, reactions, version };
}

async function shown(db: DuetDb, id: string) {
	const row = (await db.messages.get(id))!;
	return withPending(row, await db.changes.where('messageId').equals(id).sortBy('order'), ME);
}

describe('queueChange', () => {
	it('shows an edit at once and sends it as a change frame; the answer replaces the local copy', async () => {
		const { db, sent, scheduler } = setup();
		const m = await put(db, stored());
		const edit = { op: 'edit' as const, messageId: m.id, body: 'fixed' };
		await queueChange(db, ME, m, edit);
		expect((await shown(db, m.id)).body).toBe('fixed');
		expect((await shown(db, m.id)).changePending).toBe(true);

		await scheduler.setConnected(true);
		expect(sent).toEqual([{ type: 'change', id: expect.any(String), change: edit }]);
		await scheduler.onChanged(sent[0].id, answer(m, edit));
		expect(await db.changes.count()).toBe(0);
		const after = await shown(db, m.id);
		expect([after.body, after.version, after.changePending]).toEqual(['fixed', 1, false]);
	});

	it('sends the changes of one message one at a time, in the order they were made', async () => {
		const { db, sent, scheduler } = setup();
		const m = await put(db, stored());
		await queueChange(db, ME, m, { op: 'edit', messageId: m.id, body: 'one' });
		await queueChange(db, ME, m, { op: 'react', messageId: m.id, emoji: '👍' });
		await queueChange(db, ME, m, { op: 'edit', messageId: m.id, body: 'two' });
		await scheduler.setConnected(true);
		expect(sent.map((f) => f.change.op)).toEqual(['edit']);
		await scheduler.onChanged(sent[0].id, answer(m, sent[0].change));
		expect(sent.map((f) => f.change.op)).toEqual(['edit', 'react']);
		await scheduler.onChanged(sent[1].id, answer((await db.messages.get(m.id))!, sent[1].change));
		expect(sent.map((f) => f.change)).toEqual([
			{ op: 'edit', messageId: m.id, body: 'one' },
			{ op: 'react', messageId: m.id, emoji: '👍' },
			{ op: 'edit', messageId: m.id, body: 'two' }
		]);
	});

	it('lets changes of other messages go while one waits', async () => {
		const { db, sent, scheduler } = setup();
		const a = await put(db, stored());
		const b = await put(db, stored());
		await queueChange(db, ME, a, { op: 'edit', messageId: a.id, body: 'a1' });
		await queueChange(db, ME, a, { op: 'edit', messageId: a.id, body: 'a2' });
		await queueChange(db, ME, b, { op: 'edit', messageId: b.id, body: 'b1' });
		await scheduler.setConnected(true);
		expect(sent.map((f) => f.change.messageId)).toEqual([a.id, b.id]);
	});

	it('holds an edit of a message still being sent until its ack', async () => {
		const db = freshDb();
		const { sent, scheduler } = setup(db);
		const outbox = new OutboxScheduler({ db, send: () => true });
		const m = await enqueueMessage(db, { conversationId: C, senderId: ME, body: 'typo' });
		await queueChange(db, ME, m, { op: 'edit', messageId: m.id, body: 'fixed' });
		await outbox.setConnected(true);
		await scheduler.setConnected(true);
		expect(sent).toEqual([]);
		expect((await shown(db, m.id)).body).toBe('fixed');

		await outbox.onAck({ id: m.id, conversationId: C, seq: 1, createdAt: new Date(0).toISOString() });
		await scheduler.run();
		expect(sent.map((f) => f.change)).toEqual([{ op: 'edit', messageId: m.id, body: 'fixed' }]);
	});

	it('rolls back a refused change and keeps it, unapplied, with the reason until dismissed', async () => {
		const { db, sent, scheduler } = setup();
		const m = await put(db, stored());
		await queueChange(db, ME, m, { op: 'edit', messageId: m.id, body: 'fixed' });
		await scheduler.setConnected(true);
		await scheduler.onError(sent[0].id, 'conflict', 'This message was deleted.');
		const failed = (await db.changes.toArray())[0];
		expect([failed.state, failed.lastError]).toEqual(['failed', 'This message was deleted.']);
		expect((await shown(db, m.id)).body).toBe(m.body);
		await dismissChange(db, failed.id);
		expect(await db.changes.count()).toBe(0);
	});

	it('retries a change the server could not take, after a backoff, and gives up after the attempt budget', async () => {
		const { db, clock, sent, scheduler } = setup();
		const m = await put(db, stored());
		await queueChange(db, ME, m, { op: 'react', messageId: m.id, emoji: '🎉' });
		await scheduler.setConnected(true);
		await scheduler.onError(sent[0].id, 'unavailable', 'Down for a moment.');
		expect(sent).toHaveLength(1);
		for (let attempt = 2; attempt <= MAX_ATTEMPTS; attempt++) {
			clock.advance(60_000);
			await scheduler.run();
			expect(sent).toHaveLength(attempt);
			clock.advance(ACK_TIMEOUT_MS);
			await scheduler.run();
		}
		expect((await db.changes.toArray())[0].state).toBe('failed');
		expect(new Set(sent.map((f) => f.id)).size).toBe(1);
	});

	it('refuses at once what can never be done: editing or deleting the peer’s message, editing a deleted one', async () => {
		const { db } = setup();
		const theirs = await put(db, stored({ senderId: PEER }));
		const deleted = await put(db, stored({ deletedAt: new Date(0).toISOString(), body: '' }));
		await expect(queueChange(db, ME, theirs, { op: 'edit', messageId: theirs.id, body: 'x' })).rejects.toThrow(ChangeRefused);
		await expect(queueChange(db, ME, theirs, { op: 'delete', messageId: theirs.id })).rejects.toThrow(ChangeRefused);
		await expect(queueChange(db, ME, deleted, { op: 'edit', messageId: deleted.id, body: 'x' })).rejects.toThrow(ChangeRefused);
		await expect(queueChange(db, ME, deleted, { op: 'react', messageId: deleted.id, emoji: '👍' })).rejects.toThrow(ChangeRefused);
		await queueChange(db, ME, theirs, { op: 'react', messageId: theirs.id, emoji: '👍' });
		expect(await db.changes.count()).toBe(1);
	});
});

describe('deleting an unsent message', () => {
	it('takes it out of the outbox, and deletes it on the server should it turn out to be stored', async () => {
		const { db, sent, scheduler } = setup();
		const m = await enqueueMessage(db, { conversationId: C, senderId: ME, body: 'oops' });
		await queueChange(db, ME, m, { op: 'delete', messageId: m.id });
		expect(await db.messages.get(m.id)).toBeUndefined();
		expect(await db.outbox.count()).toBe(0);
		expect(await db.changes.count()).toBe(0);

		// Its send had reached the server after all: the message event brings it back.
		await db.transaction('rw', [db.messages, db.outbox, db.changes, db.conversations, db.meta], () =>
			storeServerCopy(db, { ...stored(), id: m.id, body: 'oops' })
		);
		expect((await shown(db, m.id)).deletedAt).not.toBeNull();
		await scheduler.setConnected(true);
		expect(sent.map((f) => f.change)).toEqual([{ op: 'delete', messageId: m.id }]);
		expect(await db.meta.get(META.discarded(m.id))).toBeUndefined();
	});

	it('drops what was queued for it', async () => {
		const { db } = setup();
		const m = await enqueueMessage(db, { conversationId: C, senderId: ME, body: 'oops' });
		await queueChange(db, ME, m, { op: 'edit', messageId: m.id, body: 'better' });
		await deleteUnsent(db, m.id);
		expect(await db.changes.count()).toBe(0);
	});
});

describe('storeServerCopy', () => {
	it('never lets an older copy replace a newer one, whichever arrives last', async () => {
		const db = freshDb();
		const m = stored();
		const store = (copy: Message) =>
			db.transaction('rw', [db.messages, db.outbox, db.changes, db.conversations, db.meta], () => storeServerCopy(db, copy));
		expect(await store({ ...m, body: 'second', version: 2 })).toBe(true);
		expect(await store({ ...m, body: 'first', version: 1 })).toBe(false);
		expect((await db.messages.get(m.id))?.body).toBe('second');
	});

	it('keeps the preview a later message_updated brings, and an older copy (the send’s own event, replayed) never takes it away', async () => {
		const db = freshDb();
		const m = stored();
		const preview = { url: 'https://a.example/', title: 'A', description: null, siteName: null, imageUrl: null };
		const store = (copy: Message) =>
			db.transaction('rw', [db.messages, db.outbox, db.changes, db.conversations, db.meta], () => storeServerCopy(db, copy));
		await store(m);
		expect(await store({ ...m, preview, version: 1 })).toBe(true);
		expect(await store(m)).toBe(false);
		expect((await db.messages.get(m.id))?.preview).toEqual(preview);
	});

	it('updates the conversation list’s last message when it is the one changed', async () => {
		const db = freshDb();
		const m = stored();
		await db.conversations.put({
			id: C,
			peer: { id: PEER, username: 'peer_user' },
			lastSeq: m.seq,
			lastMessage: m,
			unreadCount: 0,
			myReadSeq: 0,
			myDeliveredSeq: 0,
			peerDeliveredSeq: 0,
			peerReadSeq: 0,
			activity: m.createdAt
		});
		await db.transaction('rw', [db.messages, db.outbox, db.changes, db.conversations, db.meta], () =>
			storeServerCopy(db, { ...m, body: '', deletedAt: new Date(1).toISOString(), version: 1 })
		);
		expect((await db.conversations.get(C))?.lastMessage?.deletedAt).not.toBeNull();
	});
});
