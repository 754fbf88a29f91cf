/**
 * Full-text search over the messages of the caller's conversations only. The membership join is
 * the authorization: a message of a conversation the caller is not in can never match.
 */
import { and, desc, eq, isNull, ne, sql } from 'drizzle-orm';
import { alias } from 'drizzle-orm/pg-core';
import { searchWords } from '$lib/search-words';
import type { Message, User } from '$lib/types';
import type { Executor } from '../db';
import { members, messages, users } from '../db/schema';
import { searchableBody } from '../db/search-index';
import { withReactions } from './reactions';

export interface SearchHit {
	message: Message;
	peer: User;
}

export const SEARCH_LIMIT = 50;

/**
 * Each word as a prefix match ("hel" finds "hello"), all required. Building the tsquery from
 * letters and digits only means no input can be a tsquery syntax error.
 */
function toPrefixQuery(q: string): string | null {
	const words = searchWords(q);
	return words.length ? words.map((w) => `${w}:*`).join(' & ') : null;
}

const peer = alias(members, 'search_peer');
const peerUser = alias(users, 'search_peer_user');

export async function searchMessages(db: Executor, userId: string, q: string, limit = SEARCH_LIMIT): Promise<SearchHit[]> {
	const query = toPrefixQuery(q);
	if (!query) return [];
	// The same expression as the GIN index messages_body_search_idx, so the planner can use it.
	const rows = await db
		.select({ message: messages, peerId: peerUser.id, peerUsername: peerUser.username })
		.from(messages)
		.innerJoin(members, and(eq(members.conversationId, messages.conversationId), eq(members.userId, userId)))
		.innerJoin(peer, and(eq(peer.conversationId, messages.conversationId), ne(peer.userId, userId)))
		.innerJoin(peerUser, eq(peerUser.id, peer.userId))
		// A deleted message's body is '' and matches nothing; the condition says so for the reader.
		.where(and(sql`${searchableBody(messages.body)} @@ to_tsquery('simple', ${query})`, isNull(messages.deletedAt)))
		.orderBy(desc(messages.createdAt), desc(messages.seq))
		.limit(limit);
	const shown = await withReactions(
		db,
		rows.map((r) => r.message)
	);
	return rows.map((r, i) => ({ message: shown[i], peer: { id: r.peerId, username: r.peerUsername } }));
}
