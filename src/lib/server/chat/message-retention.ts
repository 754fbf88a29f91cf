/**
 * Optional message retention (MESSAGE_RETENTION_DAYS): a message older than the retention is
 * deleted as its sender would delete it, through group commit, so its attachments (rows and
 * blobs), reactions and preview go with it, its text leaves the search index, and both members
 * get `message_updated` live and on resume. Each run does bounded work. Several instances may run
 * it at once: on a shared PostgreSQL a run first takes a transaction-scoped advisory lock and a
 * run that finds it taken does nothing, so no two instances submit the same deletes; the deletes
 * themselves take the same row locks, in the same order, as everyone's sends and changes.
 */
import { and, asc, isNull, lt, sql } from 'drizzle-orm';
import { log } from '../log';
import type { Db } from '../db';
import { messages } from '../db/schema';
import type { ChatService } from './service';

const DAY_MS = 24 * 60 * 60 * 1000;
/** Any constant pair ("duet", 2): the advisory lock only has to be the same on every instance. */
const LOCK = sql`pg_try_advisory_xact_lock(1685415284, 2)`;

export interface ExpireOptions {
	retentionDays: number;
	/** Deletes submitted at once: a few group-commit batches, never one huge transaction. */
	batchSize?: number;
	/** Rounds per run; the rest waits for the next run. */
	batches?: number;
	/**
	 * Several processes share this database (PostgreSQL), so a run must hold the lock. PGlite serves
	 * one process, whose one connection a held transaction would take from group commit.
	 */
	shared: boolean;
}

/** Deletes the messages older than the retention as of `now`; returns how many went (0: another instance's run holds the lock). */
export async function expireMessages(
	db: Db,
	chat: Pick<ChatService, 'changeFor'>,
	options: ExpireOptions,
	now = new Date()
): Promise<number> {
	if (!options.shared) return expireRounds(db, chat, options, now);
	// The lock lives while this transaction does; the deletes run on other connections meanwhile.
	return db.transaction(async (tx) => {
		const [row] = await tx.select({ locked: sql<boolean>`${LOCK}` }).from(sql`(values (1)) as one(x)`);
		return row?.locked ? expireRounds(db, chat, options, now) : 0;
	});
}

async function expireRounds(db: Db, chat: Pick<ChatService, 'changeFor'>, options: ExpireOptions, now: Date): Promise<number> {
	const before = new Date(now.getTime() - options.retentionDays * DAY_MS);
	const batchSize = options.batchSize ?? 200;
	let expired = 0;
	for (let i = 0; i < (options.batches ?? 25); i++) {
		const due = await db
			.select({ id: messages.id, conversationId: messages.conversationId, senderId: messages.senderId })
			.from(messages)
			.where(
				and(
					lt(messages.createdAt, before),
					isNull(messages.deletedAt),
					// A block refuses every change in its conversation: its messages wait until it is lifted.
					sql`not exists (select 1 from blocks b join conversation_members other on other.user_id = b.blocked_id or other.user_id = b.blocker_id
						where other.conversation_id = ${messages.conversationId} and other.user_id <> ${messages.senderId}
						and (b.blocker_id = ${messages.senderId} or b.blocked_id = ${messages.senderId}))`
				)
			)
			.orderBy(asc(messages.createdAt))
			.limit(batchSize);
		const outcomes = await Promise.allSettled(
			due.map((m) => chat.changeFor(m.senderId, m.conversationId, { op: 'delete', messageId: m.id }))
		);
		const failed = outcomes.filter((o) => o.status === 'rejected');
		expired += outcomes.length - failed.length;
		if (failed.length) {
			// The database is away or the write path refuses: the next run tries again.
			log.error({ err: failed[0].reason, failed: failed.length }, 'Deleting messages past their retention failed');
			break;
		}
		if (due.length < batchSize) break;
	}
	return expired;
}
