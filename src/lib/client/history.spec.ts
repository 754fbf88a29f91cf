// @vitest-environment node
import 'fake-indexeddb/auto';
import { UNCHANGED } from '$lib/test-fixtures';
import { describe, expect, it } from 'vitest';
import type { Conversation, Message } from '$lib/types';
import type { Api } from './api';
import { HistoryReader, OLDER_PAGE, type HistorySource } from './history.svelte';
import { conversationMessages } from './queries';
import { seedConversations } from './seed';
import { HISTORY_PAGE, SyncEngine } from './sync';
import { freshDb } from './test-db';

const ME = { id: 'me', username: 'me_user' };
const PEER = { id: 'peer', username: 'peer_user' };
const C = '00000000-0000-4000-8000-0000000000c1';

function message(seq: number): Message {
	const id = `00000000-0000-4000-8000-${String(seq).padStart(12, '0')}`;
	return {
		id,
		conversationId: C,
		seq,
		senderId: PEER.id,
		clientId: 'x',
		clientSeq: seq,
		body: `m${seq}`,
		createdAt: new Date(seq * 1000).toISOString(),
		...UNCHANGED
	};
}

function conversation(lastSeq: number): Conversation {
	return {
		id: C,
		peer: PEER,
		lastSeq,
		lastMessage: message(lastSeq),
		unreadCount: 0,
		myReadSeq: lastSeq,
		peerDeliveredSeq: 0,
		peerReadSeq: 0
	};
}

/** A client whose server holds `count` messages; `fail` makes the next history call throw. */
function source(count: number) {
	const all = Array.from({ length: count }, (_, i) => message(i + 1));
	const state = { fail: false, calls: 0 };
	const api = {
		conversations: async () => ({ conversations: [conversation(count)] }),
		history: async (_id: string, q: { before?: number; after?: number; limit?: number }) => {
			state.calls++;
			if (state.fail) throw new Error('offline');
			const limit = q.limit ?? HISTORY_PAGE;
			const page = all.filter((m) => (q.after === undefined || m.seq > q.after) && (q.before === undefined || m.seq < q.before));
			const forward = q.after !== undefined;
			return { messages: forward ? page.slice(0, limit) : page.slice(-limit), hasMore: page.length > limit };
		}
	} as unknown as Api;
	const db = freshDb();
	const engine = new SyncEngine(db, api, ME, {
		delivered() {},
		ephemeral() {},
		ack: async () => {},
		sendError: async () => {},
		changed: async () => {},
		ready() {}
	});
	const client: HistorySource = {
		db,
		async seed(c, messages) {
			await seedConversations(db, [c]);
			await engine.storeMessages(messages);
		},
		ensureRecent: (id) => engine.ensureRecent(id),
		loadOlder: (id, before, limit) => engine.loadOlder(id, before, limit)
	};
	return { client, db, all, state };
}

describe('history reader', () => {
	it('opens on the rendered page and steps back a page at a time until the start', async () => {
		const { client, db, all } = source(300);
		const reader = new HistoryReader();
		await reader.open(client, { conversation: conversation(300), messages: all.slice(-HISTORY_PAGE), hasMore: true, at: null });
		expect(reader.limit).toBe(HISTORY_PAGE);
		expect(reader.canLoadOlder(await conversationMessages(db, C, reader.limit))).toBe(true);

		await reader.loadOlder();
		expect(reader.limit).toBe(HISTORY_PAGE + OLDER_PAGE);
		expect(reader.serverHasMore).toBe(true);
		await reader.loadOlder();
		const shown = await conversationMessages(db, C, reader.limit);
		expect(shown[0].seq).toBe(1);
		expect(reader.serverHasMore).toBe(false);
		expect(reader.canLoadOlder(shown)).toBe(false);
		expect(reader.loadingOlder).toBe(false);
	});

	it('pages older rows from the local database without asking the server again', async () => {
		const { client, all, state } = source(300);
		const reader = new HistoryReader();
		await reader.open(client, { conversation: conversation(300), messages: all, hasMore: false, at: null });
		const before = state.calls;
		await reader.loadOlder();
		expect(state.calls).toBe(before);
		expect(reader.limit).toBe(HISTORY_PAGE + OLDER_PAGE);
	});

	it('loads back to a search result and shows a few rows above it', async () => {
		const { client, db } = source(1000);
		const reader = new HistoryReader();
		await reader.open(client, { conversation: conversation(1000), messages: [], hasMore: true, at: 500 });
		const shown = await conversationMessages(db, C, reader.limit);
		expect(shown.map((m) => m.seq)).toContain(500);
		expect(shown[0].seq).toBe(480);
		expect(shown[shown.length - 1].seq).toBe(1000);
	});

	it('says so when a page cannot be fetched, and the next try works', async () => {
		const { client, all, state } = source(300);
		const reader = new HistoryReader();
		await reader.open(client, { conversation: conversation(300), messages: all.slice(-HISTORY_PAGE), hasMore: true, at: null });
		state.fail = true;
		await reader.loadOlder();
		expect(reader.olderError).toBe('Could not load older messages.');
		expect(reader.limit).toBe(HISTORY_PAGE);
		state.fail = false;
		await reader.loadOlder();
		expect(reader.olderError).toBeNull();
		expect(reader.limit).toBe(HISTORY_PAGE + OLDER_PAGE);
	});

	it('starts from the first page again when another conversation opens', async () => {
		const { client, all } = source(300);
		const reader = new HistoryReader();
		await reader.open(client, { conversation: conversation(300), messages: all.slice(-HISTORY_PAGE), hasMore: true, at: null });
		await reader.loadOlder();
		await reader.open(client, { conversation: conversation(300), messages: all.slice(-HISTORY_PAGE), hasMore: false, at: null });
		expect(reader.limit).toBe(HISTORY_PAGE);
		expect(reader.serverHasMore).toBe(false);
	});
});
