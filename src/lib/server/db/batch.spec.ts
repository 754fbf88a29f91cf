import { PGlite } from '@electric-sql/pglite';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createPostgresDatabase } from '../../../../tests/integration/harness';
import { pgliteBatchWriter, postgresBatchWriter, type BatchWriter, type Statement } from './batch';
import { PoolUse } from './pool-use';
import { transactionLimits } from './postgres-client';
import { openDatabase } from './index';
import { Reachability, UNREACHABLE } from './reachability';

const READ: Statement = { text: 'select coalesce(max(n), 0)::int as n from t', params: [] };
const next = (rows: unknown[]): Statement => ({ text: 'insert into t values ($1)', params: [(rows[0] as { n: number }).n + 1] });

/** What a writer must do on any engine: the write chosen from the read, stored once COMMIT answers. */
function behavesAsABatch(writer: () => BatchWriter, stored: () => Promise<number[]>) {
	test('stores the write that `decide` chose from the read, `committing` called before COMMIT', async () => {
		const order: string[] = [];
		await writer().transact(
			READ,
			(rows) => (order.push('decide'), next(rows)),
			() => order.push('committing')
		);
		await writer().transact(READ, next);
		expect(order).toEqual(['decide', 'committing']);
		expect(await stored()).toEqual([1, 2]);
	});

	test('a batch with nothing to write commits the read alone', async () => {
		await expect(writer().transact(READ, () => null)).resolves.toBeUndefined();
		expect(await stored()).toEqual([1, 2]);
	});

	test('a failed write stores nothing and rejects with the database error', async () => {
		const failing = (rows: unknown[]) => ({ ...next(rows), text: 'insert into t values ($1), (null)' });
		await expect(writer().transact(READ, failing)).rejects.toMatchObject({ code: '23502' });
		expect(await stored()).toEqual([1, 2]);
		// The next batch runs as usual.
		await writer().transact(READ, next);
		expect(await stored()).toEqual([1, 2, 3]);
	});
}

describe('the PGlite batch writer', () => {
	let pglite: PGlite;
	let writer: BatchWriter;
	beforeAll(async () => {
		pglite = new PGlite();
		await pglite.query('create table t (n int not null)');
		writer = pgliteBatchWriter(pglite);
	});
	afterAll(() => pglite.close());

	test('runs one batch at a time, is always reachable, and has no pool to give up on', () => {
		expect(writer.parallel).toBe(false);
		expect(writer.reachable).toBe(true);
		writer.gaveUp(Object.assign(new Error('late'), { code: 'ETIMEDOUT' }));
		expect(writer.reachable).toBe(true);
	});

	behavesAsABatch(
		() => writer,
		async () => (await pglite.query<{ n: number }>('select n from t order by n')).rows.map((r) => r.n)
	);
});

describe.skipIf(!process.env.TEST_DATABASE_URL)('the postgres.js batch writer [postgres]', () => {
	const timeouts = { statementMs: 500, idleInTransactionMs: 1000, answerMs: 1000, connectMs: 500, retryMaxMs: 50, acquireMs: 300 };
	let pool: postgres.Sql;
	let reachability: Reachability;
	let writer: BatchWriter;
	beforeAll(async () => {
		pool = postgres(await createPostgresDatabase(), { max: 1, onnotice: () => {} });
		await pool`create table t (n int not null)`;
		reachability = new Reachability(() => pool`select 1`, 50);
		writer = postgresBatchWriter(pool, timeouts, reachability);
	});
	afterAll(async () => {
		reachability.close();
		await pool.end({ timeout: 1 });
	});

	behavesAsABatch(
		() => writer,
		async () => (await pool<{ n: number }[]>`select n from t order by n`).map((r) => r.n)
	);

	test('a statement cancelled on a live connection (statement_timeout, 57014) is rolled back before the connection goes back to the pool', async () => {
		const cancelled: Statement = { text: `do $$ begin raise exception 'cancelled' using errcode = '57014'; end $$`, params: [] };
		await expect(writer.transact(cancelled, next)).rejects.toMatchObject({ code: '57014' });
		// The pool's one connection serves the next query, not "current transaction is aborted".
		expect(await pool`select 1 as one`).toEqual([{ one: 1 }]);
	});

	test('no connection within acquireMs: the batch fails unsent, the pool counts as away, and the next fails at once', async () => {
		expect(writer.parallel).toBe(true);
		const held = await pool.reserve();
		try {
			await expect(writer.transact(READ, next)).rejects.toMatchObject({ code: 'CONNECT_TIMEOUT' });
			expect(writer.reachable).toBe(false);
			await expect(writer.transact(READ, next)).rejects.toMatchObject({ code: UNREACHABLE });
		} finally {
			held.release();
		}
		for (let i = 0; i < 50 && !writer.reachable; i++) await new Promise((resolve) => setTimeout(resolve, 20));
		await writer.transact(READ, next);
		expect((await pool`select n from t order by n`).map((r) => r.n)).toEqual([1, 2, 3, 4]);
	});

	test('behind a transaction pooler: each batch sets its deadlines in its own transaction, and is counted while it holds the connection', async () => {
		const use = new PoolUse(1);
		const pooled = postgresBatchWriter(pool, timeouts, reachability, { transactionLimits: transactionLimits(timeouts, true), use });
		const seen: unknown[] = [];
		const read = {
			text: "select current_setting('statement_timeout') as s, current_setting('idle_in_transaction_session_timeout') as i",
			params: []
		};
		await pooled.transact(read, (rows) => {
			seen.push(...rows, use.snapshot());
			return null;
		});
		expect(seen).toEqual([
			{ s: '500ms', i: '1s' },
			{ inUse: 1, waiting: 0, size: 1 }
		]);
		expect(use.snapshot()).toEqual({ inUse: 0, waiting: 0, size: 1 });
	});
});

describe('each Database carries the writer of its engine', () => {
	test('PGlite: batches queued in its worker, and no LISTEN/NOTIFY address', async () => {
		const database = await openDatabase('memory://', '');
		try {
			expect(database.batch.parallel).toBe(true);
			expect(database.notifyUrl).toBeUndefined();
		} finally {
			await database.close();
		}
	}, 120_000);

	test.skipIf(!process.env.TEST_DATABASE_URL)(
		'PostgreSQL: batches in parallel, and LISTEN/NOTIFY on the same database [postgres]',
		async () => {
			const url = await createPostgresDatabase();
			const database = await openDatabase(url, '');
			try {
				expect(database.batch.parallel).toBe(true);
				expect(database.notifyUrl).toBe(url);
			} finally {
				await database.close();
			}
		},
		120_000
	);
});
