/**
 * Who blocks whom, and the per-member conversation settings (mute). A block is written under both
 * users' row locks, the locks every send's batch takes, so a send committed after the block always
 * sees it (group-commit.ts refuses it there). Each write appends a `conversation` event to the
 * writer's own log only, so their other devices refetch it; the blocked person is never told.
 */
import { and, asc, eq, inArray, or } from 'drizzle-orm';
import { alias } from 'drizzle-orm/pg-core';
import { AppError } from '$lib/errors';
import type { User } from '$lib/types';
import type { Db, Executor, Tx } from '../db';
import { blocks, conversations, members, users } from '../db/schema';
import { appendEvent, type Appended } from './events';

/** What a block or unblock changed: the peer, and the writer's event when they share a conversation. */
export interface BlockChange {
	peerId: string;
	/** Their 1:1 conversation, if they have one. */
	conversationId: string | null;
	appended: Appended[];
	/** False when it was so already (idempotent: nothing written, nothing to tell). */
	changed: boolean;
}

const NO_SUCH_USER = (username: string) => new AppError('not_found', `There is no user called "${username}".`);

export async function block(db: Db, blockerId: string, username: string): Promise<BlockChange> {
	const [peer] = await db.select({ id: users.id }).from(users).where(eq(users.username, username)).limit(1);
	if (!peer) throw NO_SUCH_USER(username);
	if (peer.id === blockerId) throw new AppError('bad_request', 'You cannot block yourself.');
	return db.transaction(async (tx) => {
		await lockUsers(tx, [blockerId, peer.id]);
		const inserted = await tx
			.insert(blocks)
			.values({ blockerId, blockedId: peer.id })
			.onConflictDoNothing()
			.returning({ id: blocks.blockedId });
		return { peerId: peer.id, changed: inserted.length > 0, ...(await tellOwnDevices(tx, blockerId, peer.id, inserted.length > 0)) };
	});
}

/** Unblocking someone not blocked (or who does not exist) changes nothing and is not an error. */
export async function unblock(db: Db, blockerId: string, blockedId: string): Promise<BlockChange> {
	return db.transaction(async (tx) => {
		const removed = await tx
			.delete(blocks)
			.where(and(eq(blocks.blockerId, blockerId), eq(blocks.blockedId, blockedId)))
			.returning({ id: blocks.blockedId });
		return { peerId: blockedId, changed: removed.length > 0, ...(await tellOwnDevices(tx, blockerId, blockedId, removed.length > 0)) };
	});
}

const blockedUser = alias(users, 'blocked_user');

/** The people `userId` blocks, by username. */
export function blockedBy(db: Executor, userId: string): Promise<User[]> {
	return db
		.select({ id: blockedUser.id, username: blockedUser.username })
		.from(blocks)
		.innerJoin(blockedUser, eq(blockedUser.id, blocks.blockedId))
		.where(eq(blocks.blockerId, userId))
		.orderBy(asc(blockedUser.username));
}

/** Whether either of the two blocks the other. */
export async function blockedBetween(db: Executor, a: string, b: string): Promise<boolean> {
	const rows = await db
		.select({ id: blocks.blockerId })
		.from(blocks)
		.where(or(and(eq(blocks.blockerId, a), eq(blocks.blockedId, b)), and(eq(blocks.blockerId, b), eq(blocks.blockedId, a))))
		.limit(1);
	return rows.length > 0;
}

/** Of `peerIds`, those `userId` blocks or is blocked by. */
export async function blockedAmong(db: Executor, userId: string, peerIds: string[]): Promise<Set<string>> {
	if (peerIds.length === 0) return new Set();
	const rows = await db
		.select({ blockerId: blocks.blockerId, blockedId: blocks.blockedId })
		.from(blocks)
		.where(
			or(
				and(eq(blocks.blockerId, userId), inArray(blocks.blockedId, peerIds)),
				and(eq(blocks.blockedId, userId), inArray(blocks.blockerId, peerIds))
			)
		);
	return new Set(rows.map((r) => (r.blockerId === userId ? r.blockedId : r.blockerId)));
}

/** Sets the member's own mute; false when `userId` is not a member (never reveal that it exists). */
export async function setMuted(db: Db, userId: string, conversationId: string, muted: boolean): Promise<Appended[] | null> {
	return db.transaction(async (tx) => {
		const updated = await tx
			.update(members)
			.set({ muted })
			.where(and(eq(members.conversationId, conversationId), eq(members.userId, userId)))
			.returning({ id: members.conversationId });
		if (updated.length === 0) return null;
		return appendEvent(tx, [userId], { type: 'conversation', conversationId });
	});
}

/** Whether `userId` muted the conversation. */
export async function isMuted(db: Executor, userId: string, conversationId: string): Promise<boolean> {
	const [row] = await db
		.select({ muted: members.muted })
		.from(members)
		.where(and(eq(members.conversationId, conversationId), eq(members.userId, userId)));
	return row?.muted ?? false;
}

/** In id order, the order every writer of these rows takes (no deadlock with a batch). */
async function lockUsers(tx: Tx, ids: string[]) {
	await tx.select({ id: users.id }).from(users).where(inArray(users.id, ids)).orderBy(asc(users.id)).for('no key update');
}

/** The writer's other devices refetch the conversation with the peer, if they have one and it changed. */
async function tellOwnDevices(tx: Tx, userId: string, peerId: string, changed: boolean) {
	const [conversation] = await tx
		.select({ id: conversations.id })
		.from(conversations)
		.where(eq(conversations.pairKey, [userId, peerId].sort().join(':')));
	const conversationId = conversation?.id ?? null;
	const appended = conversationId && changed ? await appendEvent(tx, [userId], { type: 'conversation', conversationId }) : [];
	return { conversationId, appended };
}
