/** Merging what the server says about a conversation into what Dexie has, never moving backwards. */
import type { Conversation, Message } from '$lib/types';
import type { LocalConversation } from './db';

export function mergeConversation(
	existing: LocalConversation | undefined,
	incoming: Conversation,
	now: () => string = () => new Date().toISOString()
): LocalConversation {
	if (!existing) {
		return {
			...incoming,
			activity: incoming.lastMessage?.createdAt ?? now(),
			myDeliveredSeq: incoming.myReadSeq
		};
	}
	const newer = incoming.lastSeq >= existing.lastSeq && incoming.myReadSeq >= existing.myReadSeq;
	const lastMessage = newerMessage(existing.lastMessage, incoming.lastMessage);
	return {
		...existing,
		peer: incoming.peer,
		lastSeq: Math.max(existing.lastSeq, incoming.lastSeq),
		lastMessage,
		unreadCount: newer ? incoming.unreadCount : existing.unreadCount,
		myReadSeq: Math.max(existing.myReadSeq, incoming.myReadSeq),
		myDeliveredSeq: Math.max(existing.myDeliveredSeq, incoming.myReadSeq),
		peerDeliveredSeq: Math.max(existing.peerDeliveredSeq, incoming.peerDeliveredSeq, incoming.peerReadSeq),
		// Hidden read state replaces what was shown: the one case where it moves backwards.
		peerReadSeq: incoming.readReceipts === false ? 0 : Math.max(existing.peerReadSeq, incoming.peerReadSeq),
		readReceipts: incoming.readReceipts,
		// Settings are not ordered like seqs: what the server says now is the last word.
		muted: incoming.muted ?? false,
		blocked: incoming.blocked ?? false,
		activity: lastMessage?.createdAt ?? existing.activity
	};
}

function newerMessage(a: Message | null, b: Message | null): Message | null {
	if (!a) return b;
	if (!b) return a;
	if (b.seq !== a.seq) return b.seq > a.seq ? b : a;
	// The same message: the copy with more changes applied.
	return b.version >= a.version ? b : a;
}
