import { describe, expect, it } from 'vitest';
import type { Conversation } from '$lib/types';
import { mergeConversation } from './conversations';

const base: Conversation = {
	id: 'c',
	peer: { id: 'p', username: 'peer' },
	lastSeq: 5,
	lastMessage: null,
	unreadCount: 0,
	myReadSeq: 5,
	peerDeliveredSeq: 5,
	peerReadSeq: 4,
	readReceipts: true
};

describe('mergeConversation and read receipts', () => {
	it('keeps the read position from moving backwards while receipts are shown', () => {
		const existing = mergeConversation(undefined, base);
		expect(mergeConversation(existing, { ...base, peerReadSeq: 2 }).peerReadSeq).toBe(4);
	});

	it('replaces what was shown when read state is hidden, and shows it again once it is not', () => {
		const existing = mergeConversation(undefined, base);
		const hidden = mergeConversation(existing, { ...base, peerReadSeq: 0, readReceipts: false });
		expect(hidden).toMatchObject({ peerReadSeq: 0, peerDeliveredSeq: 5, readReceipts: false });
		expect(mergeConversation(hidden, { ...base, peerReadSeq: 5 })).toMatchObject({ peerReadSeq: 5, readReceipts: true });
	});
});
