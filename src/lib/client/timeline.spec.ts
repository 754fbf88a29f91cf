import { describe, expect, it } from 'vitest';
import { UNCHANGED } from '$lib/test-fixtures';
import type { Conversation, Message } from '$lib/types';
import type { LocalMessage } from './db';
import { arrivals, displayStatus, readTarget, timelineRows } from './timeline';

const ME = 'me';
const PEER = 'peer';
const C = 'c1';
const NOW = new Date('2026-11-20T12:00:00Z');

function message(seq: number, senderId: string, at: string): Message {
	return { id: `m${seq}`, conversationId: C, seq, senderId, clientId: 'x', clientSeq: seq, body: `m${seq}`, createdAt: at, ...UNCHANGED };
}

function conversation(extra: Partial<Conversation> = {}): Conversation {
	return {
		id: C,
		peer: { id: PEER, username: 'peer_user' },
		lastSeq: 0,
		lastMessage: null,
		unreadCount: 0,
		myReadSeq: 0,
		peerDeliveredSeq: 0,
		peerReadSeq: 0,
		...extra
	};
}

describe('timeline rows', () => {
	it('puts a separator before each day, groups close messages from one sender, and one unread divider', () => {
		const messages = [
			message(1, PEER, '2026-11-19T10:00:00Z'),
			message(2, PEER, '2026-11-19T10:01:00Z'),
			message(3, ME, '2026-11-20T09:00:00Z'),
			message(4, PEER, '2026-11-20T09:01:00Z'),
			message(5, PEER, '2026-11-20T09:30:00Z')
		];
		const rows = timelineRows(messages, { me: ME, readMark: 3, now: NOW });
		expect(rows.map((r) => (r.kind === 'message' ? `${r.message.seq}${r.first ? 'F' : ''}${r.last ? 'L' : ''}` : r.kind))).toEqual([
			'day',
			'1F',
			'2L',
			'day',
			'3FL',
			'unread',
			'4FL',
			'5FL'
		]);
	});

	it('has no unread divider when everything was read on opening', () => {
		const rows = timelineRows([message(1, PEER, '2026-11-20T09:00:00Z')], { me: ME, readMark: null, now: NOW });
		expect(rows.some((r) => r.kind === 'unread')).toBe(false);
	});
});

describe('display status', () => {
	it('follows our sends from the outbox to read; the peer’s carry none', () => {
		const conv = conversation({ peerDeliveredSeq: 2, peerReadSeq: 1 });
		const pending: LocalMessage = { ...message(0, ME, NOW.toISOString()), seq: undefined, status: 'sending' };
		expect(displayStatus(pending, conv, ME)).toBe('sending');
		expect(displayStatus({ ...pending, status: 'failed' }, conv, ME)).toBe('failed');
		expect(displayStatus(message(1, ME, NOW.toISOString()), conv, ME)).toBe('read');
		expect(displayStatus(message(2, ME, NOW.toISOString()), conv, ME)).toBe('delivered');
		expect(displayStatus(message(3, ME, NOW.toISOString()), conv, ME)).toBe('sent');
		expect(displayStatus(message(4, PEER, NOW.toISOString()), conv, ME)).toBeNull();
	});
});

describe('read target', () => {
	it('marks up to the newest when the peer wrote it or it counts unread, not for our own sends', () => {
		const peerLast = message(5, PEER, NOW.toISOString());
		const mineLast = message(5, ME, NOW.toISOString());
		expect(readTarget(conversation({ lastSeq: 5, myReadSeq: 4, lastMessage: peerLast }), ME)).toBe(5);
		expect(readTarget(conversation({ lastSeq: 5, myReadSeq: 4, lastMessage: mineLast }), ME)).toBeNull();
		expect(readTarget(conversation({ lastSeq: 5, myReadSeq: 3, unreadCount: 1, lastMessage: mineLast }), ME)).toBe(5);
		expect(readTarget(conversation({ lastSeq: 5, myReadSeq: 5, lastMessage: peerLast }), ME)).toBeNull();
	});
});

describe('arrivals', () => {
	it('reports only peer messages newer than the last look, and nothing on opening a conversation', () => {
		const seen = arrivals();
		const first = [message(1, PEER, NOW.toISOString())];
		expect(seen(C, first, ME)).toEqual([]);
		const more = [...first, message(2, ME, NOW.toISOString()), message(3, PEER, NOW.toISOString())];
		expect(seen(C, more, ME).map((m) => m.seq)).toEqual([3]);
		expect(seen(C, more, ME)).toEqual([]);
		expect(seen('other', more, ME)).toEqual([]);
	});

	it('counts nothing up to where the conversation was when opened in the middle (a search result)', () => {
		const seen = arrivals();
		const around = [message(36, PEER, NOW.toISOString()), message(37, PEER, NOW.toISOString())];
		expect(seen(C, around, ME, 400)).toEqual([]);
		const loaded = [...around, ...[398, 399, 400].map((seq) => message(seq, PEER, NOW.toISOString()))];
		expect(seen(C, loaded, ME, 400)).toEqual([]);
		expect(seen(C, [...loaded, message(401, PEER, NOW.toISOString())], ME, 400).map((m) => m.seq)).toEqual([401]);
	});
});
