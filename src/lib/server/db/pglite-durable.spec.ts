/**
 * The embedded default must be durable: opened as the app opens it, PGlite has fsync on, and a
 * commit reaches the disk through a real fsync system call (seen by strace, when it is installed).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { hasStrace, straceNote, straceSkip, syncCalls, walSyncs } from '../../../../tests/integration/strace';
import { loadConfig } from '../config';
import { openDatabase, type Database } from '.';

const COMMITS = 5;

async function setting(database: Database, name: string): Promise<string> {
	const result = (await database.db.execute(sql.raw(`show ${name}`))) as unknown as { rows: Record<string, string>[] };
	return result.rows[0][name];
}

async function commits(database: Database, n: number): Promise<void> {
	await database.db.execute(sql`create table if not exists durability_probe (n int)`);
	for (let i = 0; i < n; i++) {
		// A transaction per commit, as group commit writes a batch on PGlite.
		await database.db.transaction(async (tx) => {
			await tx.execute(sql`insert into durability_probe values (${i})`);
		});
	}
}

describe('embedded PGlite, opened as the app opens it', () => {
	let dir: string;
	let database: Database;
	beforeAll(async () => {
		dir = mkdtempSync(path.join(os.tmpdir(), 'duet-durable-'));
		// DATABASE_URL unset, with the default settings (PGLITE_UNSAFE_NO_FSYNC unset: tested below).
		database = await openDatabase(undefined, dir);
	});
	afterAll(async () => {
		await database?.close();
		rmSync(dir, { recursive: true, force: true });
	});

	test('has fsync on, and syncs its WAL with fsync (the method whose call reaches the disk)', async () => {
		expect(await setting(database, 'fsync')).toBe('on');
		expect(await setting(database, 'wal_sync_method')).toBe('fsync');
		expect(await setting(database, 'synchronous_commit')).toBe('on');
	});

	test.skipIf(straceSkip)(`every commit makes an fsync system call on the WAL${straceNote}`, async ({ skip }) => {
		// Attached to this very process: PGlite runs here, so strace sees what it asks the kernel.
		const calls = await syncCalls(process.pid, () => commits(database, COMMITS), skip);
		expect(walSyncs(calls).length, calls.join('\n')).toBeGreaterThanOrEqual(COMMITS);
	});
});

describe('PGLITE_UNSAFE_NO_FSYNC', () => {
	test('is off unless set to 1, and a typo fails at start', () => {
		const saved = process.env.PGLITE_UNSAFE_NO_FSYNC;
		try {
			for (const [raw, expected] of [
				[undefined, false],
				['', false],
				['0', false],
				['1', true]
			] as const) {
				if (raw === undefined) delete process.env.PGLITE_UNSAFE_NO_FSYNC;
				else process.env.PGLITE_UNSAFE_NO_FSYNC = raw;
				expect(loadConfig().pgliteUnsafeNoFsync).toBe(expected);
			}
			for (const raw of ['yes', 'true', 'on', '2']) {
				process.env.PGLITE_UNSAFE_NO_FSYNC = raw;
				expect(() => loadConfig()).toThrow(/PGLITE_UNSAFE_NO_FSYNC must be 1 or 0/);
			}
		} finally {
			if (saved === undefined) delete process.env.PGLITE_UNSAFE_NO_FSYNC;
			else process.env.PGLITE_UNSAFE_NO_FSYNC = saved;
		}
	});

	test('turns the syncs off, as PGlite ships', async ({ skip }) => {
		const dir = mkdtempSync(path.join(os.tmpdir(), 'duet-unsafe-'));
		const database = await openDatabase(undefined, dir, { pgliteUnsafeNoFsync: true });
		try {
			expect(await setting(database, 'fsync')).toBe('off');
			if (hasStrace) expect(await syncCalls(process.pid, () => commits(database, COMMITS), skip)).toEqual([]);
		} finally {
			await database.close();
			rmSync(dir, { recursive: true, force: true });
		}
	});
});
