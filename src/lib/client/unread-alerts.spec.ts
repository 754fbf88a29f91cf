// @vitest-environment node
import 'fake-indexeddb/auto';
import { UNCHANGED } from '$lib/test-fixtures';
import { describe, expect, it } from 'vitest';
import type { Message } from '$lib/types';
import type { LocalConversation } from './db';
import { freshDb } from './test-db';
import { newlyUnread, unreadTotal, watchUnread } from './unread-alerts';

const PEER = { id: 'peer', username: 'peer_user' };

function last(senderId: string): Message {
	return {
		id: 'm',
		conversationId: 'a',
		seq: 1,
		senderId,
		clientId: 'x',
		clientSeq: 1,
		body: 'hi',
		createdAt: new Date(0).toISOString(),
		...UNCHANGED
	};
}

function conv(id: string, unreadCount: number, senderId = PEER.id): LocalConversation {
	return {
		id,
		peer: PEER,
		lastSeq: unreadCount,
		lastMessage: last(senderId),
		unreadCount,
		myReadSeq: 0,
		myDeliveredSeq: 0,
		peerDeliveredSeq: 0,
		peerReadSeq: 0,
		activity: new Date(0).toISOString()
	};
}

async function until(check: () => boolean) {
	for (let i = 0; i < 100 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
}

describe('unread alerts', () => {
	it('totals the unread counts and finds conversations that grew with a peer message', () => {
		expect(unreadTotal([conv('a', 2), conv('b', 3)])).toBe(5);
		const previous = new Map([
			['a', 2],
			['b', 3]
		]);
		expect(newlyUnread(previous, [conv('a', 3), conv('b', 3), conv('c', 1), conv('d', 1, 'me')], 'me').map((c) => c.id)).toEqual([
			'a',
			'c'
		]);
	});

	it('leaves muted conversations out of the total and never notifies for them', () => {
		const muted = { ...conv('m', 4), muted: true };
		expect(unreadTotal([conv('a', 2), muted])).toBe(2);
		expect(newlyUnread(new Map([['m', 1]]), [muted, conv('a', 1)], 'me').map((c) => c.id)).toEqual(['a']);
		// Unmuted again, it counts as before.
		expect(unreadTotal([conv('a', 2), { ...muted, muted: false }])).toBe(6);
	});

	it('badges every change but notifies only arrivals after the first look, and not while quiet', async () => {
		const db = freshDb();
		await db.conversations.put(conv('a', 1));
		const totals: number[] = [];
		const arrived: string[] = [];
		let quiet = false;
		const stop = watchUnread(db, 'me', { total: (n) => totals.push(n), arrived: (c) => arrived.push(c.id), quiet: () => quiet });
		await until(() => totals.length === 1);
		expect(arrived).toEqual([]);
		await db.conversations.put(conv('a', 2));
		await until(() => totals.length === 2);
		expect(arrived).toEqual(['a']);
		quiet = true;
		await db.conversations.put(conv('a', 3));
		await until(() => totals.length === 3);
		expect(totals).toEqual([1, 2, 3]);
		expect(arrived).toEqual(['a']);
		stop();
	});
});
