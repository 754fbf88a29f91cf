/**
 * Event log retention on both engines, with a fake clock (the `now` each run is given): what is
 * older than the retention goes, in bounded runs, several runs at once delete each row once, and a
 * cursor from before what is kept can no longer resume (the stream answers it with `reset`).
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { eq } from 'drizzle-orm';
import { createPostgresDatabase } from '../../../../tests/integration/harness';
import { openDatabase, type Database } from '../db';
import { userEvents, users } from '../db/schema';
import { canResumeAfter } from './events';
import { pruneEvents } from './retention';

const engines = process.env.TEST_DATABASE_URL ? ['pglite', 'postgres'] : ['pglite'];
const DAY = 24 * 60 * 60 * 1000;
const NOW = new Date('2026-06-15T12:00:00Z');

describe.each(engines)('event log retention on %s', (engine) => {
	let database: Database;
	beforeAll(async () => {
		database = await openDatabase(engine === 'postgres' ? await createPostgresDatabase() : 'memory://', '');
	});
	afterAll(async () => {
		await database.close();
	});

	/** A user whose log holds one event per age, oldest first, with cursors 1…n. */
	async function userWithEvents(agesInDays: number[]): Promise<string> {
		const id = crypto.randomUUID();
		await database.db.insert(users).values({ id, username: `r_${id.slice(0, 8)}`, passwordHash: 'x', eventSeq: agesInDays.length });
		await database.db.insert(userEvents).values(
			agesInDays.map((age, i) => ({
				userId: id,
				seq: i + 1,
				type: 'conversation' as const,
				conversationId: crypto.randomUUID(),
				createdAt: new Date(NOW.getTime() - age * DAY)
			}))
		);
		return id;
	}

	const kept = async (userId: string) =>
		(await database.db.select({ seq: userEvents.seq }).from(userEvents).where(eq(userEvents.userId, userId)))
			.map((r) => r.seq)
			.sort((a, b) => a - b);

	test('deletes what is older than the retention as of the clock, and nothing newer', async () => {
		const user = await userWithEvents([40, 31, 30.5, 29, 1, 0]);
		expect(await pruneEvents(database.db, { retentionDays: 30 }, NOW)).toBeGreaterThanOrEqual(3);
		expect(await kept(user)).toEqual([4, 5, 6]);
		// A day later on the clock, the next one goes too.
		await pruneEvents(database.db, { retentionDays: 30 }, new Date(NOW.getTime() + 1.5 * DAY));
		expect(await kept(user)).toEqual([5, 6]);
	});

	test('each run does bounded work; the rest waits for the next run', async () => {
		const user = await userWithEvents(Array.from({ length: 25 }, () => 100));
		expect(await pruneEvents(database.db, { retentionDays: 30, batchSize: 4, batches: 3 }, NOW)).toBe(12);
		expect(await kept(user)).toHaveLength(13);
		expect(await pruneEvents(database.db, { retentionDays: 30, batchSize: 4, batches: 3 }, NOW)).toBe(12);
		expect(await pruneEvents(database.db, { retentionDays: 30, batchSize: 4, batches: 3 }, NOW)).toBe(1);
		expect(await kept(user)).toEqual([]);
	});

	test('several runs at once (as several instances) delete every old row exactly once and never wait on each other', async () => {
		const user = await userWithEvents([...Array.from({ length: 60 }, () => 50), 1]);
		const counts = await Promise.all(
			Array.from({ length: 4 }, () => pruneEvents(database.db, { retentionDays: 30, batchSize: 7, batches: 100 }, NOW))
		);
		expect(counts.reduce((a, b) => a + b, 0)).toBe(60);
		expect(await kept(user)).toEqual([61]);
	});

	test('a cursor resumes while every event after it is kept, and not once some of them were pruned', async () => {
		const user = await userWithEvents([50, 50, 50, 10, 5]);
		expect(await canResumeAfter(database.db, user, 0, 5)).toBe(true);
		await pruneEvents(database.db, { retentionDays: 30 }, NOW);
		expect(await kept(user)).toEqual([4, 5]);
		// Events 1–3 are gone: a device that had only seen up to 2 has missed 3 for good.
		expect(await canResumeAfter(database.db, user, 2, 5)).toBe(false);
		expect(await canResumeAfter(database.db, user, 3, 5)).toBe(true);
		expect(await canResumeAfter(database.db, user, 4, 5)).toBe(true);
		expect(await canResumeAfter(database.db, user, 5, 5)).toBe(true);
		// Everything pruned: only a device that had seen the last event resumes.
		await pruneEvents(database.db, { retentionDays: 1 }, NOW);
		expect(await kept(user)).toEqual([]);
		expect(await canResumeAfter(database.db, user, 4, 5)).toBe(false);
		expect(await canResumeAfter(database.db, user, 5, 5)).toBe(true);
	});
});
