import { describe, expect, test } from 'vitest';
import { createPostgresDatabase } from '../../../../tests/integration/harness';
import { startTcpProxy } from '../../../../tests/integration/proxies';
import type { DatabaseTimeouts } from '../config';
import { createPostgresClient, FrameScanner } from './postgres-client';

const timeouts: DatabaseTimeouts = {
	statementMs: 300,
	idleInTransactionMs: 1000,
	answerMs: 500,
	connectMs: 500,
	retryMaxMs: 50,
	acquireMs: 500
};

describe('FrameScanner', () => {
	test('finds message types across chunk boundaries, the untyped startup message first', () => {
		const startup = Buffer.from([0, 0, 0, 8, 0, 3, 0, 0]);
		const query = Buffer.concat([Buffer.from('Q'), Buffer.from([0, 0, 0, 9]), Buffer.from('abcd\0')]);
		const sync = Buffer.concat([Buffer.from('S'), Buffer.from([0, 0, 0, 4])]);
		const all = Buffer.concat([startup, query, sync]);
		const types: string[] = [];
		const scanner = new FrameScanner(true);
		for (let i = 0; i < all.length; i += 3)
			scanner.scan(all.subarray(i, i + 3), (t) => types.push(t === 0 ? 'startup' : String.fromCharCode(t)));
		expect(types).toEqual(['startup', 'Q', 'S']);
	});
});

describe.skipIf(!process.env.TEST_DATABASE_URL)('the postgres.js client [postgres]', () => {
	test('a reserved connection whose backend dies rejects its next queries instead of crashing the process, and the pool goes on', async () => {
		const url = await createPostgresDatabase();
		const sql = createPostgresClient(url, timeouts, { max: 2 });
		const killer = createPostgresClient(url, timeouts, { max: 1 });
		try {
			const reserved = await sql.reserve();
			const [{ pid }] = await reserved`select pg_backend_pid() as pid`;
			await killer`select pg_terminate_backend(${pid})`;
			// The unpatched driver (postgres.js 3.4.9) throws an uncaught TypeError from nextWrite here.
			await expect(reserved`select 1`).rejects.toBeTruthy();
			await expect(reserved`select 1`).rejects.toMatchObject({ code: 'CONNECTION_CLOSED' });
			reserved.release();
			expect(await sql`select 2 as n`).toEqual([{ n: 2 }]);
		} finally {
			await Promise.all([sql.end({ timeout: 1 }), killer.end({ timeout: 1 })]);
		}
	});

	test('a transaction whose connection dies mid-way fails without crashing, and the pool goes on', async () => {
		const url = await createPostgresDatabase();
		const sql = createPostgresClient(url, timeouts, { max: 2 });
		const killer = createPostgresClient(url, timeouts, { max: 1 });
		try {
			const failed = sql.begin(async (tx) => {
				const [{ pid }] = await tx`select pg_backend_pid() as pid`;
				await killer`select pg_terminate_backend(${pid})`;
				await tx`select 1`.catch(() => {});
				// The driver's own ROLLBACK after the failure used to go to a closed socket.
				await tx`select 1`;
			});
			await expect(failed).rejects.toBeTruthy();
			expect(await sql`select 3 as n`).toEqual([{ n: 3 }]);
		} finally {
			await Promise.all([sql.end({ timeout: 1 }), killer.end({ timeout: 1 })]);
		}
	});

	test('a blackholed connection is given up after the answer deadline; after the restore the pool answers at once', async () => {
		const base = new URL(await createPostgresDatabase());
		const proxy = await startTcpProxy(base.hostname, Number(base.port || 5432));
		const viaProxy = new URL(base);
		viaProxy.port = String(proxy.port);
		const sql = createPostgresClient(viaProxy.toString(), timeouts, { max: 2 });
		try {
			expect(await sql`select 1 as n`).toEqual([{ n: 1 }]);
			proxy.cut('blackhole');
			const started = Date.now();
			await expect(sql`select 1`).rejects.toMatchObject({ code: 'ETIMEDOUT' });
			expect(Date.now() - started).toBeLessThan(timeouts.answerMs + 1000);
			proxy.restore();
			const restored = Date.now();
			expect(await sql`select 4 as n`).toEqual([{ n: 4 }]);
			expect(Date.now() - restored).toBeLessThan(1000);
			// A statement that runs too long is ended by the server (statement_timeout), answered as such.
			await expect(sql`select pg_sleep(2)`).rejects.toMatchObject({ code: '57014' });
		} finally {
			await sql.end({ timeout: 1 });
			await proxy.close();
		}
	});
});
