/** The reads the UI makes from Dexie, kept here so pages hold no query logic. */
import { matchesWords, searchWords } from '$lib/search-words';
import type { DuetDb, LocalConversation, LocalMessage } from './db';

/** Most recent activity first. */
/** A row of the conversation list: `unsentLast` is this device's message written after the last confirmed one. */
export type ListedConversation = LocalConversation & { unsentLast?: LocalMessage };

/**
 * The conversations, most recent first, each with this device's newest unsent message when it is
 * newer than what the server confirmed: what was just written shows in the list (and moves it up)
 * at once, online or not.
 */
export async function conversationList(db: DuetDb): Promise<ListedConversation[]> {
	const [conversations, queued] = await Promise.all([db.conversations.toArray(), db.outbox.toArray()]);
	const newestQueued = new Map<string, (typeof queued)[number]>();
	for (const item of queued) {
		const seen = newestQueued.get(item.conversationId);
		if (!seen || item.clientSeq > seen.clientSeq) newestQueued.set(item.conversationId, item);
	}
	const unsent = await db.messages.bulkGet([...newestQueued.values()].map((item) => item.id));
	const latest = new Map(unsent.flatMap((m) => (m && m.seq === undefined ? [[m.conversationId, m] as const] : [])));
	return conversations
		.map((c) => {
			const mine = latest.get(c.id);
			if (!mine || (c.lastMessage && c.lastMessage.createdAt >= mine.createdAt)) return c;
			return { ...c, unsentLast: mine, activity: mine.createdAt > c.activity ? mine.createdAt : c.activity };
		})
		.sort((a, b) => (a.activity < b.activity ? 1 : a.activity > b.activity ? -1 : 0));
}

/**
 * The newest `limit` confirmed messages in seq order, then this client's unconfirmed ones in
 * the order they were written (clientSeq).
 */
export async function conversationMessages(db: DuetDb, conversationId: string, limit: number): Promise<LocalMessage[]> {
	const confirmed = await db.messages
		.where('[conversationId+seq]')
		.between([conversationId, 0], [conversationId, Infinity])
		.reverse()
		.limit(limit)
		.toArray();
	confirmed.reverse();
	const pendingIds = await db.outbox
		.where('[conversationId+clientSeq]')
		.between([conversationId, 0], [conversationId, Infinity])
		.primaryKeys();
	const pending = (await db.messages.bulkGet(pendingIds)).filter((m): m is LocalMessage => m !== undefined && m.seq === undefined);
	return [...confirmed, ...pending];
}

/** The lowest seq held locally for a conversation (0 when none), to page further back. */
export async function oldestSeq(db: DuetDb, conversationId: string): Promise<number> {
	const first = await db.messages.where('[conversationId+seq]').between([conversationId, 0], [conversationId, Infinity]).first();
	return first?.seq ?? 0;
}

export function countConfirmed(db: DuetDb, conversationId: string): Promise<number> {
	return db.messages.where('[conversationId+seq]').between([conversationId, 0], [conversationId, Infinity]).count();
}

/** Confirmed messages from `seq` on (itself included): how many rows must show to reach it. */
export function countFrom(db: DuetDb, conversationId: string, seq: number): Promise<number> {
	return db.messages.where('[conversationId+seq]').between([conversationId, seq], [conversationId, Infinity]).count();
}

/**
 * Offline search over what this device holds: every word must start a word of the body (the
 * server's prefix matching, roughly), newest first.
 */
export async function searchLocal(db: DuetDb, q: string, limit = 50): Promise<LocalMessage[]> {
	const words = searchWords(q);
	if (words.length === 0) return [];
	const found = await db.messages.filter((m) => !m.deletedAt && matchesWords(m.body, words)).toArray();
	return found.sort((a, b) => b.createdAt.localeCompare(a.createdAt)).slice(0, limit);
}

/** The peers shown as online: the presence this device last heard, made "last seen" when it is not live. */
export async function onlinePeers(db: DuetDb): Promise<Set<string>> {
	return new Set((await db.presence.toArray()).flatMap((p) => (p.online ? [p.userId] : [])));
}
