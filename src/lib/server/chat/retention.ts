/**
 * Retention of the per-user event log, which otherwise grows with every message and receipt for
 * ever: events older than EVENT_RETENTION_DAYS are deleted by a periodic job that every instance
 * runs. Each run does bounded work (at most `batches` statements of `batchSize` rows), and rows
 * another instance's run holds are skipped rather than waited for (SKIP LOCKED), so several
 * instances prune side by side without blocking each other or deleting a row twice. The log only
 * serves resumes: a cursor from before what is kept gets `reset` (events.ts canResumeAfter), and
 * the client reloads its state, which the messages and conversations tables still hold in full.
 */
import { sql } from 'drizzle-orm';
import type { Db } from '../db';
import { userEvents } from '../db/schema';

const DAY_MS = 24 * 60 * 60 * 1000;

export interface PruneOptions {
	retentionDays: number;
	/** Rows per statement: one short transaction each. */
	batchSize?: number;
	/** Statements per run; the rest waits for the next run. */
	batches?: number;
}

/** Deletes events older than the retention as of `now`; returns how many went. */
export async function pruneEvents(db: Db, options: PruneOptions, now = new Date()): Promise<number> {
	const before = new Date(now.getTime() - options.retentionDays * DAY_MS);
	const batchSize = options.batchSize ?? 5000;
	let deleted = 0;
	for (let i = 0; i < (options.batches ?? 20); i++) {
		const gone = await db
			.delete(userEvents)
			.where(
				sql`(${userEvents.userId}, ${userEvents.seq}) in (
					select user_id, seq from user_events where created_at < ${before.toISOString()}::timestamptz
					order by created_at limit ${batchSize} for update skip locked)`
			)
			.returning({ seq: userEvents.seq });
		deleted += gone.length;
		if (gone.length < batchSize) break;
	}
	return deleted;
}
