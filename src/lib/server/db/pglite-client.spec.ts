import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { PgliteWorkerClient } from './pglite-client';
import { pgliteBatchWriter } from './batch';
import { isUnavailable } from '../failures';
import { PGLITE_TEMPLATE } from '.';

const worker = new URL('./pglite-worker.js', import.meta.url);
// The build's template when there is one (fast); initdb otherwise.
const memory = { template: path.resolve('build', PGLITE_TEMPLATE) };

describe('PGlite in a worker thread', () => {
	let client: PgliteWorkerClient;
	const lost = vi.fn();

	beforeAll(async () => {
		client = await PgliteWorkerClient.start(worker, memory, lost);
		await client.exec('create table t (id int primary key, at timestamptz, big int8, data bytea, doc jsonb)');
	});
	afterAll(async () => {
		await client.close();
		expect(lost).not.toHaveBeenCalled();
	});

	it('answers queries with their parameters and PGlite’s types', async () => {
		const at = new Date('2026-01-02T03:04:05.678Z');
		const data = new Uint8Array([0, 1, 255]);
		await client.query('insert into t values ($1, $2, $3, $4, $5)', [1, at, 2n ** 40n, data, { a: [1, 'b'] }]);
		const { rows, fields } = await client.query<Record<string, unknown>>('select * from t where id = $1', [1]);
		expect(rows).toEqual([{ id: 1, at, big: 2 ** 40, data, doc: { a: [1, 'b'] } }]);
		expect(rows[0].data).toBeInstanceOf(Uint8Array);
		expect(fields.map((f) => f.name)).toEqual(['id', 'at', 'big', 'data', 'doc']);
		const array = await client.query('select id, at from t', [], { rowMode: 'array', parsers: { 1184: (v: string) => v } });
		expect(array.rows).toEqual([[1, '2026-01-02 03:04:05.678+00']]);
	});

	it('keeps PostgreSQL’s error fields', async () => {
		const error = await client.query('insert into t (id) values (1)').catch((e: unknown) => e);
		expect(error).toBeInstanceOf(Error);
		expect(error).toMatchObject({ code: '23505', constraint: 't_pkey' });
	});

	it('commits a transaction, and rolls one back on a throw or rollback()', async () => {
		await client.transaction(async (tx) => {
			await tx.query('insert into t (id) values (10)');
			await tx.query('insert into t (id) values (11)');
		});
		await expect(
			client.transaction(async (tx) => {
				await tx.query('insert into t (id) values (12)');
				throw new Error('no');
			})
		).rejects.toThrow('no');
		await client.transaction(async (tx) => {
			await tx.query('insert into t (id) values (13)');
			await tx.rollback();
		});
		const failed = await client
			.transaction(async (tx) => {
				await tx.query('insert into t (id) values (14)');
				await tx.query('insert into t (id) values (14)');
			})
			.catch((e: unknown) => e);
		expect(failed).toMatchObject({ code: '23505' });
		const { rows } = await client.query<{ id: number }>('select id from t where id >= 10 order by id');
		expect(rows.map((r) => r.id)).toEqual([10, 11]);
	});

	it('keeps other statements out of an open transaction', async () => {
		let outside: Promise<unknown> | undefined;
		await client.transaction(async (tx) => {
			await tx.query('insert into t (id) values (20)');
			outside = client.query('select count(*)::int as n from t where id = 20');
			await tx.rollback();
		});
		expect(((await outside) as { rows: { n: number }[] }).rows).toEqual([{ n: 0 }]);
	});

	it('runs group commit’s batches: the write with COMMIT, a failed write stores nothing', async () => {
		const writer = pgliteBatchWriter(client);
		const committing = vi.fn();
		await writer.transact(
			{ text: 'select count(*)::int as n from t where id = $1', params: [30] },
			(rows) => ((rows[0] as { n: number }).n === 0 ? { text: 'insert into t (id) values ($1)', params: [30] } : null),
			committing
		);
		expect(committing).toHaveBeenCalledOnce();
		await expect(
			writer.transact({ text: 'select 1', params: [] }, () => ({ text: 'insert into t (id) values (31), (30)', params: [] }))
		).rejects.toMatchObject({ code: '23505' });
		const { rows } = await client.query<{ id: number }>('select id from t where id >= 30 order by id');
		expect(rows.map((r) => r.id)).toEqual([30]);
	});
});

describe('a worker that dies', () => {
	it('fails what was asked and everything after as unavailable, and says so once', async () => {
		const lost = vi.fn();
		const client = await PgliteWorkerClient.start(worker, memory, lost);
		const asked = client.query('select pg_sleep(0.2)');
		await client.kill();
		await expect(asked).rejects.toSatisfy(isUnavailable);
		await expect(client.query('select 1')).rejects.toSatisfy(isUnavailable);
		expect(lost).toHaveBeenCalledOnce();
	});

	it('that cannot open rejects start', async () => {
		const dir = mkdtempSync(path.join(tmpdir(), 'duet-worker-'));
		try {
			// A file where the data directory should be.
			const file = path.join(dir, 'file');
			await import('node:fs').then((fs) => fs.writeFileSync(file, 'x'));
			await expect(PgliteWorkerClient.start(worker, { dir: file }, vi.fn())).rejects.toThrow();
		} finally {
			rmSync(dir, { recursive: true, force: true });
		}
	});
});
