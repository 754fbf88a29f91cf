/** Reads shaped as the protocol's `message` and `conversation`, from rows of the schema. */
import { and, asc, desc, eq, gt, inArray, lt, ne, sql } from 'drizzle-orm';
import { alias } from 'drizzle-orm/pg-core';
import type { Ack, Attachment, Conversation, Message, Reaction } from '$lib/types';
import type { Executor } from '../db';
import { blocks, conversations, members, messages, users } from '../db/schema';
import { withReactions } from './reactions';

export type MessageRow = typeof messages.$inferSelect;

/** A row as the wire shows it; `reactions` and `attachments` as withReactions reads them. */
export function toMessage(row: MessageRow, reactions: Reaction[] = [], attachments: Attachment[] = []): Message {
	return {
		id: row.id,
		conversationId: row.conversationId,
		seq: row.seq,
		senderId: row.senderId,
		clientId: row.clientId,
		clientSeq: row.clientSeq,
		body: row.body,
		createdAt: row.createdAt.toISOString(),
		replyTo: row.replyTo,
		editedAt: row.editedAt?.toISOString() ?? null,
		deletedAt: row.deletedAt?.toISOString() ?? null,
		reactions,
		attachments,
		preview: row.deletedAt ? null : (row.preview ?? null),
		version: row.version
	};
}

/** What the sender is told of a stored message: where it landed and when. */
export function toAck(row: MessageRow): Ack {
	return { id: row.id, conversationId: row.conversationId, seq: row.seq, createdAt: row.createdAt.toISOString() };
}

const peer = alias(members, 'peer');
const peerUser = alias(users, 'peer_user');
const me = alias(users, 'me_user');
const last = alias(messages, 'last_message');

/** The conversations of `userId` (optionally only some), most recent activity first. */
export async function conversationViews(db: Executor, userId: string, ids?: string[]): Promise<Conversation[]> {
	const rows = await db
		.select({
			id: conversations.id,
			lastSeq: conversations.lastSeq,
			myReadSeq: members.readSeq,
			peerId: peerUser.id,
			peerUsername: peerUser.username,
			peerDeletedAt: peerUser.deletedAt,
			peerDeliveredSeq: peer.deliveredSeq,
			peerReadSeq: peer.readSeq,
			muted: members.muted,
			blocked: sql<boolean>`exists (select 1 from ${blocks} b where b.blocker_id = ${members.userId} and b.blocked_id = ${peer.userId})`,
			readShown: sql<boolean>`(${me.readReceipts} and ${peerUser.readReceipts})`,
			unreadCount: sql<number>`(select count(*)::int from ${messages} m where m.conversation_id = ${conversations.id} and m.seq > ${members.readSeq} and m.sender_id <> ${members.userId})`,
			last
		})
		.from(members)
		.innerJoin(conversations, eq(conversations.id, members.conversationId))
		.innerJoin(peer, and(eq(peer.conversationId, members.conversationId), ne(peer.userId, members.userId)))
		.innerJoin(peerUser, eq(peerUser.id, peer.userId))
		.innerJoin(me, eq(me.id, members.userId))
		.leftJoin(last, and(eq(last.conversationId, conversations.id), eq(last.seq, conversations.lastSeq)))
		.where(ids ? and(eq(members.userId, userId), inArray(members.conversationId, ids)) : eq(members.userId, userId))
		.orderBy(desc(conversations.lastActivityAt), desc(conversations.id));
	const lastRows = rows.flatMap((r) => (r.last ? [r.last] : []));
	const lastById = new Map((await withReactions(db, lastRows)).map((m) => [m.id, m]));
	return rows.map((r) => ({
		id: r.id,
		peer: r.peerDeletedAt ? { id: r.peerId, username: r.peerUsername, deleted: true } : { id: r.peerId, username: r.peerUsername },
		lastSeq: r.lastSeq,
		lastMessage: r.last ? lastById.get(r.last.id)! : null,
		unreadCount: Number(r.unreadCount),
		myReadSeq: r.myReadSeq,
		peerDeliveredSeq: r.peerDeliveredSeq,
		// Either person's choice hides it both ways (docs/protocol.md "Password and sessions").
		peerReadSeq: r.readShown ? r.peerReadSeq : 0,
		readReceipts: Boolean(r.readShown),
		muted: r.muted,
		blocked: Boolean(r.blocked)
	}));
}

export interface HistoryQuery {
	before?: number;
	after?: number;
	limit: number;
}

/** One page of history, ascending by seq; `hasMore` looks past the page in the paging direction. */
export async function historyPage(db: Executor, conversationId: string, query: HistoryQuery) {
	const { before, after, limit } = query;
	const conditions = [eq(messages.conversationId, conversationId)];
	if (before !== undefined) conditions.push(lt(messages.seq, before));
	if (after !== undefined) conditions.push(gt(messages.seq, after));
	const forward = after !== undefined;
	const rows = await db
		.select()
		.from(messages)
		.where(and(...conditions))
		.orderBy(forward ? asc(messages.seq) : desc(messages.seq))
		.limit(limit + 1);
	const hasMore = rows.length > limit;
	const page = rows.slice(0, limit);
	if (!forward) page.reverse();
	return { messages: await withReactions(db, page), hasMore };
}
