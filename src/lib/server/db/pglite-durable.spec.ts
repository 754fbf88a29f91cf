/**
 * The embedded default must be durable: opened as the app opens it, PGlite has fsync on, and a
 * commit reaches the disk through a real fsync system call (seen by strace, when it is installed).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loadConfig } from '../config';
import { openDatabase, type Database } from '.';

const COMMITS = 5;
const hasStrace = spawnSync('strace', ['-V']).status === 0;
// .ci/run installs strace and sets this, so CI cannot pass by skipping the syscall check.
const straceRequired = process.env.DUET_REQUIRE_STRACE === '1';

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

/**
 * The sync system calls this process makes while `fn` runs, each with the file it synced
 * (strace -y). Attaching to ourselves sees exactly what PGlite, in this process, asks the kernel.
 */
async function syncCalls(fn: () => Promise<void>): Promise<string[]> {
	const dir = mkdtempSync(path.join(os.tmpdir(), 'duet-strace-'));
	const out = path.join(dir, 'trace');
	const strace = spawn('strace', ['-f', '-y', '-e', 'trace=fsync,fdatasync,sync_file_range,msync', '-o', out, '-p', String(process.pid)], {
		stdio: ['ignore', 'ignore', 'pipe']
	});
	let stderr = '';
	const exited = new Promise<number | null>((resolve) => strace.on('exit', resolve));
	await new Promise<void>((resolve, reject) => {
		strace.stderr.on('data', (chunk) => {
			stderr += chunk;
			if (stderr.includes(`Process ${process.pid} attached`)) resolve();
		});
		exited.then(() => reject(new Error(`strace could not attach: ${stderr.trim()}`)));
	});
	try {
		await fn();
	} finally {
		strace.kill('SIGINT');
		await exited;
	}
	const calls = readFileSync(out, 'utf8').split('\n').filter((line) => /\b(fsync|fdatasync|sync_file_range|msync)\(/.test(line));
	rmSync(dir, { recursive: true, force: true });
	return calls;
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

	test.skipIf(!hasStrace && !straceRequired)(
		`every commit makes an fsync system call on the WAL${hasStrace ? '' : ' (SKIPPED: strace is not installed; apt-get install strace)'}`,
		async () => {
			expect(hasStrace, 'DUET_REQUIRE_STRACE=1 but strace is not installed').toBe(true);
			const calls = await syncCalls(() => commits(database, COMMITS));
			const wal = calls.filter((line) => line.includes(`${path.sep}pg_wal${path.sep}`));
			expect(wal.length, calls.join('\n')).toBeGreaterThanOrEqual(COMMITS);
		}
	);
});

describe('PGLITE_UNSAFE_NO_FSYNC', () => {
	test('is off unless set to 1, and a typo fails at start', () => {
		const saved = process.env.PGLITE_UNSAFE_NO_FSYNC;
		try {
			for (const [raw, expected] of [[undefined, false], ['', false], ['0', false], ['1', true]] as const) {
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

	test('turns the syncs off, as PGlite ships', async () => {
		const dir = mkdtempSync(path.join(os.tmpdir(), 'duet-unsafe-'));
		const database = await openDatabase(undefined, dir, { pgliteUnsafeNoFsync: true });
		try {
			expect(await setting(database, 'fsync')).toBe('off');
			if (hasStrace) expect(await syncCalls(() => commits(database, COMMITS))).toEqual([]);
		} finally {
			await database.close();
			rmSync(dir, { recursive: true, force: true });
		}
	});
});
