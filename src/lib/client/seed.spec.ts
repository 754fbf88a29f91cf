// @vitest-environment node
import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import type { Conversation } from '$lib/types';
import { seedConversations } from './seed';
import { freshDb } from './test-db';

const PEER = { id: 'peer', username: 'peer_user' };

function conversation(id: string, lastSeq: number, extra: Partial<Conversation> = {}): Conversation {
	return { id, peer: PEER, lastSeq, lastMessage: null, unreadCount: 0, myReadSeq: 0, peerDeliveredSeq: 0, peerReadSeq: 0, ...extra };
}

describe('seeding from the server-rendered page', () => {
	it('stores every conversation the page listed', async () => {
		const db = freshDb();
		await seedConversations(db, [conversation('a', 1), conversation('b', 2)]);
		expect((await db.conversations.toArray()).map((c) => c.id).sort()).toEqual(['a', 'b']);
	});

	it('never moves a conversation the tab already synced further back to the older snapshot', async () => {
		const db = freshDb();
		await seedConversations(db, [conversation('a', 9, { myReadSeq: 9, peerReadSeq: 7 })]);
		await seedConversations(db, [conversation('a', 5, { myReadSeq: 3, unreadCount: 2 })]);
		const a = await db.conversations.get('a');
		expect(a).toMatchObject({ lastSeq: 9, myReadSeq: 9, peerReadSeq: 7, unreadCount: 0 });
	});
});
