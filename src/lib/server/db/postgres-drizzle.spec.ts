import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { afterEach, describe, expect, test } from 'vitest';
import { createPostgresDatabase } from '../../../../tests/integration/harness';
import { databaseTimeouts } from '../config';
import { createPostgresClient, transactionLimits } from './postgres-client';
import { drizzleClient } from './postgres-drizzle';
import { Reachability, UNREACHABLE } from './reachability';

const MS = 300;

describe.skipIf(!process.env.TEST_DATABASE_URL)('drizzle on the postgres.js adapter [postgres]', () => {
	const opened: Array<{ pool: postgres.Sql; reachability: Reachability }> = [];
	afterEach(async () => {
		for (const { pool, reachability } of opened.splice(0)) {
			reachability.close();
			await pool.end({ timeout: 1 });
		}
	});

	/** A pool of one connection, so a test can hold it and leave drizzle's queries queued. */
	async function open(deadlineMs = MS) {
		const pool = postgres(await createPostgresDatabase(), { max: 1, onnotice: () => {} });
		const reachability = new Reachability(() => pool`select 1`, 50);
		opened.push({ pool, reachability });
		const db = drizzle({ client: drizzleClient(pool, deadlineMs, reachability) as unknown as postgres.Sql });
		return { pool, reachability, db };
	}

	const rows = (result: unknown) => result as unknown as Record<string, unknown>[];
	const preparedCount = sql`select count(*)::int as n from pg_prepared_statements where not from_sql`;

	test("drizzle's queries run as named statements, prepared once per connection, in transactions too", async () => {
		// Not a test of deadlines: one a loaded machine never comes near.
		const { db } = await open(10_000);
		expect(rows(await db.execute(sql`select ${1}::int as n`))).toEqual([{ n: 1 }]);
		const [{ n: afterOne }] = rows(await db.execute(preparedCount));
		expect(afterOne).toBeGreaterThanOrEqual(1);
		await db.execute(sql`select ${2}::int as n`);
		// The same text again: its statement is reused, none is added but the count's own.
		const [{ n: again }] = rows(await db.execute(preparedCount));
		expect(again).toBe(afterOne);
		const inside = await db.transaction(async (tx) => {
			await tx.execute(sql`select ${3}::bigint as n`);
			return rows(await tx.execute(preparedCount))[0].n as number;
		});
		expect(inside).toBeGreaterThan(afterOne as number);
	});

	test('the deadline starts when the query runs, not when it is built', async () => {
		// A deadline a busy machine's `select 1` never comes near, waited out before the query runs:
		// counted from building, it would have passed.
		const deadline = 2000;
		const { db } = await open(deadline);
		const built = db.execute(sql`select 1 as n`);
		await new Promise((resolve) => setTimeout(resolve, deadline + 200));
		expect(rows(await built)).toEqual([{ n: 1 }]);
	});

	test('a query still queued at its deadline fails as unreachable and leaves the queue; later ones fail at once until the probe finds the database', async () => {
		const { pool, reachability, db } = await open();
		await db.execute(sql`create table probe (n int)`);
		const held = await pool.reserve();
		try {
			const started = Date.now();
			await expect(db.execute(sql`insert into probe values (1)`)).rejects.toMatchObject({ cause: { code: 'ETIMEDOUT' } });
			expect(Date.now() - started).toBeLessThan(MS + 500);
			expect(reachability.reachable).toBe(false);
			const failFast = Date.now();
			await expect(db.execute(sql`insert into probe values (2)`)).rejects.toMatchObject({ cause: { code: UNREACHABLE } });
			expect(Date.now() - failFast).toBeLessThan(50);
		} finally {
			held.release();
		}
		for (let i = 0; i < 50 && !reachability.reachable; i++) await new Promise((resolve) => setTimeout(resolve, 20));
		expect(reachability.reachable).toBe(true);
		// Neither insert ran late once the connection was free.
		expect(rows(await db.execute(sql`select count(*)::int as n from probe`))).toEqual([{ n: 0 }]);
	});

	test('the first query to run out its deadline fails the waits in flight with it, each without a deadline of its own', async () => {
		const { pool, db } = await open();
		const held = await pool.reserve();
		try {
			const started = Date.now();
			// drizzle runs a query again each time it is awaited: each is awaited once, here.
			const first = Promise.resolve(db.execute(sql`select 1`));
			first.catch(() => {});
			await new Promise((resolve) => setTimeout(resolve, MS / 2));
			const second = Promise.resolve(db.execute(sql`select 2`));
			second.catch(() => {});
			await expect(first).rejects.toMatchObject({ cause: { code: 'ETIMEDOUT' } });
			await expect(second).rejects.toMatchObject({ cause: { code: UNREACHABLE } });
			expect(Date.now() - started).toBeLessThan(MS + MS / 4);
		} finally {
			held.release();
		}
	});

	test('a query running on its connection past the deadline fails as unreachable, inside a transaction too', async () => {
		const { reachability, db } = await open();
		let waited = 0;
		let away = false;
		const slow = db.transaction(async (tx) => {
			const started = Date.now();
			try {
				await tx.execute(sql`select pg_sleep(1)`);
			} finally {
				waited = Date.now() - started;
				away = !reachability.reachable;
			}
		});
		// The transaction itself ends after its ROLLBACK, which waits behind the sleep on the connection.
		await expect(slow).rejects.toMatchObject({ cause: { code: 'ETIMEDOUT' } });
		expect(waited).toBeLessThan(MS + 200);
		expect(away).toBe(true);
		// Answered again (the sleep ends, the pool's probe goes through): a success counts it back.
		for (let i = 0; i < 100 && !reachability.reachable; i++) await new Promise((resolve) => setTimeout(resolve, 20));
		expect(rows(await db.execute(sql`select 5 as n`))).toEqual([{ n: 5 }]);
	});

	test('a refused statement is an answer: the database stays reachable', async () => {
		const { reachability, db } = await open();
		await expect(db.execute(sql`select * from no_such_table`)).rejects.toMatchObject({ cause: { code: '42P01' } });
		expect(reachability.reachable).toBe(true);
	});

	test('behind a transaction pooler: no named statements, no session settings, the deadlines set in each transaction, a statement outside one cancelled at the statement deadline', async () => {
		const timeouts = databaseTimeouts({ DATABASE_STATEMENT_TIMEOUT_MS: '300' });
		const pool = createPostgresClient(await createPostgresDatabase(), timeouts, { max: 1, pooled: true });
		const reachability = new Reachability(() => pool`select 1`, 50);
		opened.push({ pool, reachability });
		// An answer deadline a busy machine never comes near: only the cancel can end the sleep.
		const client = drizzleClient(pool, 10_000, reachability, { transactionLimits: transactionLimits(timeouts, true), statementMs: 300 });
		const db = drizzle({ client: client as unknown as postgres.Sql });
		await db.execute(sql`select ${1}::int as n`);
		expect(rows(await db.execute(preparedCount))).toEqual([{ n: 0 }]);
		expect(rows(await db.execute(sql`show statement_timeout`))).toEqual([{ statement_timeout: '0' }]);
		const inside = await db.transaction(async (tx) => [
			...rows(await tx.execute(sql`show statement_timeout`)),
			...rows(await tx.execute(sql`show idle_in_transaction_session_timeout`))
		]);
		expect(inside).toEqual([{ statement_timeout: '300ms' }, { idle_in_transaction_session_timeout: '5s' }]);
		await expect(db.execute(sql`select pg_sleep(30)`)).rejects.toMatchObject({ cause: { code: '57014' } });
		expect(reachability.reachable).toBe(true);
	});
});
