// @vitest-environment node
import 'fake-indexeddb/auto';
import { UNCHANGED } from '$lib/test-fixtures';
import { describe, expect, it } from 'vitest';
import type { Api } from './api';
import { highlightParts, searchMessages, searchWords } from './search';
import { freshDb } from './test-db';

const PEER = { id: 'peer', username: 'peer_user' };

describe('message search', () => {
	it("uses the server's results when it answers", async () => {
		const db = freshDb();
		const hit = {
			message: {
				id: 'm',
				conversationId: 'c',
				seq: 1,
				senderId: PEER.id,
				clientId: 'x',
				clientSeq: 1,
				body: 'hello',
				createdAt: '',
				...UNCHANGED
			},
			peer: PEER
		};
		const api = { search: async () => ({ results: [hit] }) } as Pick<Api, 'search'>;
		expect(await searchMessages({ api, db }, 'hel')).toEqual({ hits: [hit], offline: false });
	});

	it('falls back to confirmed messages on this device, with the peer of their conversation', async () => {
		const db = freshDb();
		await db.conversations.put({
			id: 'c',
			peer: PEER,
			lastSeq: 1,
			lastMessage: null,
			unreadCount: 0,
			myReadSeq: 0,
			myDeliveredSeq: 0,
			peerDeliveredSeq: 0,
			peerReadSeq: 0,
			activity: ''
		});
		const base = {
			conversationId: 'c',
			senderId: PEER.id,
			clientId: 'x',
			createdAt: new Date(0).toISOString(),
			status: 'sent' as const,
			...UNCHANGED
		};
		await db.messages.bulkPut([
			{ ...base, id: 'a', seq: 1, clientSeq: 1, body: 'Hello there' },
			{ ...base, id: 'b', clientSeq: 2, body: 'hello, unsent', status: 'sending' },
			{ ...base, id: 'c', seq: 2, clientSeq: 3, body: 'something else' },
			{ ...base, id: 'd', seq: 3, clientSeq: 4, body: 'Crème brûlée', createdAt: new Date(1).toISOString() }
		]);
		const api = { search: () => Promise.reject(new Error('offline')) } as Pick<Api, 'search'>;
		const found = await searchMessages({ api, db }, 'hel');
		expect(found.offline).toBe(true);
		expect(found.hits.map((h) => [h.message.id, h.peer.username])).toEqual([['a', 'peer_user']]);
		// Accents are ignored offline too, as by the server.
		expect((await searchMessages({ api, db }, 'CREME brul')).hits.map((h) => h.message.id)).toEqual(['d']);
		expect((await searchMessages({ api, db }, 'héllo')).hits.map((h) => h.message.id)).toEqual(['a']);
	});
});

describe('highlighting', () => {
	it('marks word prefixes only, case-insensitively', () => {
		const words = searchWords('Hel wor');
		expect(highlightParts('Hello, othello world', words)).toEqual([
			{ text: 'Hel', hit: true },
			{ text: 'lo, othello ', hit: false },
			{ text: 'wor', hit: true },
			{ text: 'ld', hit: false }
		]);
		expect(highlightParts('plain', [])).toEqual([{ text: 'plain', hit: false }]);
	});

	it('marks the original letters, accents and all, of a word typed without them', () => {
		expect(highlightParts('Ça va, Émilie?', searchWords('ca emil'))).toEqual([
			{ text: 'Ça', hit: true },
			{ text: ' va, ', hit: false },
			{ text: 'Émil', hit: true },
			{ text: 'ie?', hit: false }
		]);
	});
});
