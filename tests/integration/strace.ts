/**
 * Watches a process's sync system calls with strace (from Debian: apt-get install strace), to prove
 * that a commit reaches the disk rather than trust a setting that says it does.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const hasStrace = spawnSync('strace', ['-V']).status === 0;
/** .ci/run installs strace and sets DUET_REQUIRE_STRACE=1, so CI cannot pass by skipping. */
export const straceRequired = process.env.DUET_REQUIRE_STRACE === '1';
export const straceSkip = !hasStrace && !straceRequired;
export const straceNote = hasStrace ? '' : ' (SKIPPED: strace is not installed; apt-get install strace)';

const SYNCS = ['fsync', 'fdatasync', 'sync_file_range', 'msync', 'sync', 'syncfs'];

/**
 * The sync calls `pid` (all its threads) makes while `fn` runs, each with the file it synced (-y).
 * Where strace may not attach (ptrace restricted: Yama's ptrace_scope, a container without
 * CAP_SYS_PTRACE) the test is skipped with the reason, unless DUET_REQUIRE_STRACE=1.
 */
export async function syncCalls(pid: number, fn: () => Promise<void>, skip: (note: string) => never): Promise<string[]> {
	if (!hasStrace) {
		if (straceRequired) throw new Error('DUET_REQUIRE_STRACE=1 but strace is not installed (apt-get install strace)');
		skip('strace is not installed (apt-get install strace)');
	}
	const dir = mkdtempSync(path.join(os.tmpdir(), 'duet-strace-'));
	const out = path.join(dir, 'trace');
	const strace = spawn('strace', ['-f', '-y', '-e', `trace=${SYNCS.join(',')}`, '-o', out, '-p', String(pid)], {
		stdio: ['ignore', 'ignore', 'pipe']
	});
	let stderr = '';
	const exited = new Promise<void>((resolve) => strace.once('exit', () => resolve()));
	try {
		await new Promise<void>((resolve, reject) => {
			strace.stderr!.on('data', (chunk) => {
				stderr += chunk;
				if (stderr.includes(`Process ${pid} attached`)) resolve();
			});
			exited.then(() => reject(new Error(`strace could not attach to ${pid}: ${stderr.trim()}`)));
		});
	} catch (error) {
		rmSync(dir, { recursive: true, force: true });
		if (straceRequired) throw error;
		skip(`${(error as Error).message}; SKIPPED`);
	}
	try {
		await fn();
	} finally {
		strace.kill('SIGINT');
		await exited;
	}
	const pattern = new RegExp(`\\b(${SYNCS.join('|')})\\(`);
	const calls = readFileSync(out, 'utf8')
		.split('\n')
		.filter((line) => pattern.test(line));
	rmSync(dir, { recursive: true, force: true });
	return calls;
}

/** The calls among `calls` that synced PostgreSQL's write-ahead log. */
export const walSyncs = (calls: string[]) => calls.filter((line) => line.includes(`${path.sep}pg_wal${path.sep}`));
