/**
 * What a conversation's history looks like on screen, apart from the markup: day separators,
 * the unread divider, runs of messages from one sender, each message's status tick, when the
 * reader has read something, and which arrivals are worth announcing.
 */
import { dayKey, dayLabel } from '$lib/format';
import type { Conversation, Message } from '$lib/types';
import type { LocalMessage } from './db';

export type ShownMessage = Message | LocalMessage;
export type DisplayStatus = 'sending' | 'sent' | 'delivered' | 'read' | 'failed';

/** Messages from one sender less than this apart form one visual group. */
export const GROUP_MS = 5 * 60_000;

export type Row =
	| { kind: 'day'; key: string; label: string; iso: string }
	| { kind: 'unread'; key: string }
	| { kind: 'message'; key: string; message: ShownMessage; first: boolean; last: boolean };

function together(a: ShownMessage | undefined, b: ShownMessage | undefined): boolean {
	return (
		!!a &&
		!!b &&
		a.senderId === b.senderId &&
		dayKey(a.createdAt) === dayKey(b.createdAt) &&
		Math.abs(Date.parse(b.createdAt) - Date.parse(a.createdAt)) < GROUP_MS
	);
}

/**
 * The list's rows, oldest first. `readMark` is the reader's read seq when the conversation was
 * opened: the divider goes above the first peer message after it, and stays there while reading.
 */
export function timelineRows(messages: readonly ShownMessage[], options: { me: string; readMark: number | null; now: Date }): Row[] {
	const out: Row[] = [];
	let day = '';
	let unreadPlaced = false;
	for (let i = 0; i < messages.length; i++) {
		const m = messages[i];
		const d = dayKey(m.createdAt);
		if (d !== day) {
			day = d;
			out.push({ kind: 'day', key: `day:${d}`, label: dayLabel(m.createdAt, options.now), iso: m.createdAt });
		}
		if (!unreadPlaced && options.readMark !== null && m.seq !== undefined && m.seq > options.readMark && m.senderId !== options.me) {
			unreadPlaced = true;
			out.push({ kind: 'unread', key: 'unread' });
		}
		out.push({ kind: 'message', key: m.id, message: m, first: !together(messages[i - 1], m), last: !together(m, messages[i + 1]) });
	}
	return out;
}

/** Our own messages' tick; null for the peer's, which carry none. */
export function displayStatus(m: ShownMessage, conversation: Conversation, me: string): DisplayStatus | null {
	if (m.senderId !== me) return null;
	if ('status' in m && m.status !== 'sent') return m.status;
	if (m.seq === undefined) return 'sending';
	if (conversation.peerReadSeq >= m.seq) return 'read';
	if (conversation.peerDeliveredSeq >= m.seq) return 'delivered';
	return 'sent';
}

/**
 * The seq to mark read now, or null. Something is owed when the conversation holds more than we
 * have read and either the peer wrote it or the server still counts it unread (our own sends from
 * another device move lastSeq without anything to read).
 */
export function readTarget(conversation: Conversation, me: string): number | null {
	if (conversation.lastSeq <= conversation.myReadSeq) return null;
	if (conversation.unreadCount > 0 || conversation.lastMessage?.senderId !== me) return conversation.lastSeq;
	return null;
}

/**
 * Peer messages newer than the last look, per conversation. The first look at a conversation
 * only sets the mark: what was there on opening is history, not news. `openedAt` is the
 * conversation's lastSeq when it was opened: a view that starts in the middle of the history (a
 * search result) first shows rows far older than that, and the newer ones loaded after it are
 * not news either.
 */
export function arrivals() {
	let newestSeen = 0;
	let seenFor = '';
	return (conversationId: string, messages: readonly ShownMessage[], me: string, openedAt = 0): ShownMessage[] => {
		const last = messages[messages.length - 1];
		if (!last || last.seq === undefined) return [];
		if (seenFor !== conversationId) {
			seenFor = conversationId;
			newestSeen = Math.max(last.seq, openedAt);
			return [];
		}
		if (last.seq <= newestSeen) return [];
		const fresh = messages.filter((m) => m.seq !== undefined && m.seq > newestSeen && m.senderId !== me);
		newestSeen = last.seq;
		return fresh;
	};
}
