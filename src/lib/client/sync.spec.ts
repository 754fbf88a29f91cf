// @vitest-environment node
import 'fake-indexeddb/auto';
import { UNCHANGED } from '$lib/test-fixtures';
import { describe, expect, it, vi } from 'vitest';
import type { Conversation, Message } from '$lib/types';
import type { Api } from './api';
import { getMeta, META, openUserDb, type DuetDb } from './db';
import { enqueueMessage } from './outbox';
import { SyncEngine } from './sync';
import { freshDb } from './test-db';

const ME = { id: 'me', username: 'me_user' };
const PEER = { id: 'peer', username: 'peer_user' };
const C = '00000000-0000-4000-8000-0000000000c1';

function message(seq: number, senderId = PEER.id, id = `00000000-0000-4000-8000-${String(seq).padStart(12, '0')}`): Message {
	return {
		id,
		conversationId: C,
		seq,
		senderId,
		clientId: 'x',
		clientSeq: seq,
		body: `m${seq}`,
		createdAt: new Date(seq * 1000).toISOString(),
		...UNCHANGED
	};
}

function conversation(lastSeq: number, extra: Partial<Conversation> = {}): Conversation {
	return {
		id: C,
		peer: PEER,
		lastSeq,
		lastMessage: lastSeq ? message(lastSeq) : null,
		unreadCount: 0,
		myReadSeq: 0,
		peerDeliveredSeq: 0,
		peerReadSeq: 0,
		...extra
	};
}

/** A fake server holding one conversation's messages; it records the history queries made. */
function fakeApi(all: Message[], conv: () => Conversation) {
	const queries: { before?: number; after?: number; limit?: number }[] = [];
	const api = {
		conversations: async () => ({ conversations: [conv()] }),
		history: async (_id: string, q: { before?: number; after?: number; limit?: number }) => {
			queries.push(q);
			const limit = q.limit ?? 50;
			let page = all.filter((m) => (q.after === undefined || m.seq > q.after) && (q.before === undefined || m.seq < q.before));
			const forward = q.after !== undefined;
			const hasMore = page.length > limit;
			page = forward ? page.slice(0, limit) : page.slice(-limit);
			return { messages: page, hasMore };
		}
	} as unknown as Api;
	return { api, queries };
}

function engine(db: DuetDb, api: Api) {
	const delivered: [string, number][] = [];
	let readies = 0;
	const sync = new SyncEngine(db, api, ME, {
		delivered: (c, seq) => delivered.push([c, seq]),
		ephemeral: () => {},
		ack: async () => {},
		sendError: async () => {},
		changed: async () => {},
		ready: () => readies++
	});
	return { sync, delivered, readies: () => readies };
}

async function seqs(db: DuetDb) {
	return (await db.messages.where('[conversationId+seq]').between([C, 0], [C, Infinity]).toArray()).map((m) => m.seq);
}

describe('SyncEngine', () => {
	it('bootstraps on the first ready, then persists the cursor with every event', async () => {
		const history = [message(1), message(2)];
		const db = freshDb();
		const { api } = fakeApi(history, () => conversation(2, { unreadCount: 2 }));
		const { sync, delivered, readies } = engine(db, api);

		await sync.handle({ type: 'ready', cursor: '10', user: ME });
		expect(await getMeta(db, META.cursor)).toBe('10');
		expect(await seqs(db)).toEqual([1, 2]);
		expect(readies()).toBe(1);
		expect(delivered).toContainEqual([C, 2]);

		await sync.handle({ type: 'message', cursor: '11', message: message(3) });
		expect(await getMeta(db, META.cursor)).toBe('11');
		expect(await db.conversations.get(C)).toMatchObject({ lastSeq: 3, unreadCount: 3 });
		await sync.handle({ type: 'receipt', cursor: '12', conversationId: C, userId: PEER.id, deliveredSeq: 3, readSeq: 1 });
		expect(await db.conversations.get(C)).toMatchObject({ peerDeliveredSeq: 3, peerReadSeq: 1 });
		expect(await getMeta(db, META.cursor)).toBe('12');

		// A reload: a new engine on a new connection resumes from the stored cursor, no refetch.
		const reopened = openUserDb(db.name.replace(/^duet-/, ''));
		const again = engine(reopened, fakeApi([], () => conversation(0)).api);
		expect(await again.sync.cursor()).toBe('12');
		await again.sync.handle({ type: 'ready', cursor: '12', user: ME });
		expect(await seqs(reopened)).toEqual([1, 2, 3]);
		reopened.close();
	});

	it('turns the optimistic row into the confirmed one: one row per message id', async () => {
		const db = freshDb();
		const { api } = fakeApi([], () => conversation(0));
		const { sync } = engine(db, api);
		await sync.handle({ type: 'ready', cursor: '1', user: ME });
		const mine = await enqueueMessage(db, { conversationId: C, senderId: ME.id, body: 'hi' });
		await sync.handle({ type: 'message', cursor: '2', message: { ...mine, seq: 1, createdAt: new Date().toISOString() } });
		expect(await db.messages.count()).toBe(1);
		expect(await db.messages.get(mine.id)).toMatchObject({ seq: 1, status: 'sent' });
		expect(await db.outbox.count()).toBe(0);
	});

	it('reads each conversation once for a whole page of messages, and stores what it did before', async () => {
		const db = freshDb();
		const { sync } = engine(db, fakeApi([], () => conversation(0)).api);
		await db.conversations.put({ ...conversation(2, { myReadSeq: 1 }), activity: '', myDeliveredSeq: 2 });
		const edited = { ...message(2), body: 'm2, edited', editedAt: new Date(5000).toISOString(), version: 1 };
		const page = [edited, ...Array.from({ length: 49 }, (_, i) => message(i + 3, i % 2 ? ME.id : PEER.id))];
		const reads = vi.spyOn(db.conversations, 'get');

		await sync.storeMessages(page);

		expect(reads.mock.calls).toEqual([[C]]);
		reads.mockRestore();
		// The edit of the last message, then 49 newer ones, 25 of them the peer's and unread.
		expect(await db.conversations.get(C)).toMatchObject({ lastSeq: 51, lastMessage: message(51, PEER.id), unreadCount: 25 });
		expect(await db.messages.get(edited.id)).toMatchObject({ body: 'm2, edited', version: 1 });
		await sync.storeMessages([{ ...edited, body: 'm2, edited again', version: 2 }]);
		expect(await db.conversations.get(C)).toMatchObject({ lastSeq: 51, lastMessage: message(51, PEER.id) });
	});

	it('updates the last message of the conversation list when an edit of it arrives alone', async () => {
		const db = freshDb();
		const { sync } = engine(db, fakeApi([], () => conversation(0)).api);
		await db.conversations.put({ ...conversation(2), activity: '', myDeliveredSeq: 2 });
		const edited = { ...message(2), body: 'm2, edited', version: 1 };
		await sync.storeMessages([edited]);
		expect(await db.conversations.get(C)).toMatchObject({ lastSeq: 2, lastMessage: edited, unreadCount: 0 });
	});

	it('fetches a seq gap at once', async () => {
		const all = Array.from({ length: 6 }, (_, i) => message(i + 1));
		const db = freshDb();
		const server = fakeApi(all, () => conversation(2));
		const { sync } = engine(db, server.api);
		await db.conversations.put({ ...conversation(2), activity: '', myDeliveredSeq: 2 });
		await db.meta.put({ key: META.cursor, value: '5' });
		await db.meta.put({ key: META.bootstrapped, value: 1 });
		await sync.handle({ type: 'message', cursor: '6', message: all[5] });
		expect(server.queries).toContainEqual({ after: 2, before: 6, limit: 200 });
		expect(await seqs(db)).toEqual([3, 4, 5, 6]);
	});

	it('rebuilds on reset without losing the outbox', async () => {
		const db = freshDb();
		const server = fakeApi([message(1), message(2)], () => conversation(2));
		const { sync } = engine(db, server.api);
		const stale = '00000000-0000-4000-8000-0000000000dd';
		await db.conversations.put({ ...conversation(0), id: stale, activity: '', myDeliveredSeq: 0 });
		await db.messages.put({ ...message(1), id: '00000000-0000-4000-8000-0000000000ee', conversationId: stale, status: 'sent' });
		await db.meta.put({ key: META.cursor, value: '999' });
		const pending = await enqueueMessage(db, { conversationId: C, senderId: ME.id, body: 'not yet sent' });

		await sync.handle({ type: 'reset', cursor: '7' });
		expect(await getMeta(db, META.cursor)).toBe('7');
		expect(await db.conversations.get(stale)).toBeUndefined();
		expect(await db.messages.where('conversationId').equals(stale).count()).toBe(0);
		expect(await seqs(db)).toEqual([1, 2]);
		expect(await db.outbox.get(pending.id)).toBeDefined();
		expect((await db.messages.get(pending.id))?.status).toBe('sending');
	});

	it('applies our own read receipts from other devices and never moves receipts backwards', async () => {
		const db = freshDb();
		const { sync } = engine(db, fakeApi([], () => conversation(0)).api);
		await db.conversations.put({ ...conversation(3, { unreadCount: 3 }), activity: '', myDeliveredSeq: 0 });
		for (const m of [message(1), message(2), message(3)]) await db.messages.put({ ...m, status: 'sent' });
		await sync.handle({ type: 'receipt', cursor: '1', conversationId: C, userId: ME.id, deliveredSeq: 3, readSeq: 2 });
		expect(await db.conversations.get(C)).toMatchObject({ myReadSeq: 2, unreadCount: 1, myDeliveredSeq: 3 });
		await sync.handle({ type: 'receipt', cursor: '2', conversationId: C, userId: PEER.id, deliveredSeq: 2, readSeq: 2 });
		await sync.handle({ type: 'receipt', cursor: '3', conversationId: C, userId: PEER.id, deliveredSeq: 1, readSeq: 0 });
		expect(await db.conversations.get(C)).toMatchObject({ peerDeliveredSeq: 2, peerReadSeq: 2 });
	});

	it('does not hold the stream up when the first fetch fails, and fetches again on the next connection', async () => {
		const db = freshDb();
		const server = fakeApi([message(1)], () => conversation(1));
		let fail = true;
		const flaky = {
			...server.api,
			conversations: () => (fail ? Promise.reject(new Error('down')) : server.api.conversations())
		} as Api;
		const { sync, readies } = engine(db, flaky);
		await sync.handle({ type: 'ready', cursor: '3', user: ME });
		expect(readies()).toBe(1);
		expect(await seqs(db)).toEqual([]);

		fail = false;
		await sync.handle({ type: 'ready', cursor: '3', user: ME });
		expect(await seqs(db)).toEqual([1]);
		expect(await getMeta(db, META.bootstrapped)).toBe(1);
	});
});
