/**
 * A real PgBouncer (Debian's `pgbouncer` package, 1.18) in transaction mode in front of the test
 * PostgreSQL, with fewer server connections than the instances' pools hold client connections, so
 * transaction pooling is really exercised. Missing locally, the tests that want it say so and run
 * without it; on CI (.ci/run installs it and sets DUET_REQUIRE_PGBOUNCER=1) it is required.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { freePort } from './harness';

const BINARY = process.env.PGBOUNCER_PATH ?? '/usr/sbin/pgbouncer';

export const hasPgbouncer = existsSync(BINARY);
export const pgbouncerRequired = process.env.DUET_REQUIRE_PGBOUNCER === '1' || process.env.CI === 'true';
/** Appended to a suite's title when it runs without PgBouncer. */
export const pgbouncerNote = hasPgbouncer ? '' : ` (WITHOUT PgBouncer: ${BINARY} is missing; apt-get install pgbouncer)`;

/** Throws where PgBouncer must be there (CI) and is not; else says whether it can be used. */
export function usePgbouncer(): boolean {
	if (!hasPgbouncer && pgbouncerRequired)
		throw new Error(`PgBouncer is required here but ${BINARY} is missing (apt-get install pgbouncer)`);
	return hasPgbouncer;
}

export interface Pgbouncer {
	port: number;
	/** The same database as `databaseUrl`, reached through PgBouncer. */
	url(databaseUrl: string): string;
	/** PgBouncer's admin console (`SHOW POOLS`, `SHOW SERVERS`…), simple protocol only. */
	admin<T extends Record<string, unknown>>(command: string): Promise<T[]>;
	output(): string;
	stop(): Promise<void>;
}

export interface PgbouncerOptions {
	/** Where PostgreSQL is; by default TEST_DATABASE_URL's host and port. */
	target?: { host: string; port: number };
	/** Server connections per database (default_pool_size). */
	poolSize?: number;
}

export async function startPgbouncer(options: PgbouncerOptions = {}): Promise<Pgbouncer> {
	const base = new URL(process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres');
	const target = options.target ?? { host: base.hostname, port: Number(base.port || 5432) };
	const user = decodeURIComponent(base.username || 'postgres');
	const port = await freePort();
	const dir = await mkdtemp(path.join(tmpdir(), 'duet-pgbouncer-'));
	const poolSize = options.poolSize ?? 3;
	const ini = `[databases]
* = host=${target.host} port=${target.port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${port}
unix_socket_dir =
; PostgreSQL trusts the tests' connections; PgBouncer passes the user on and asks nothing more.
auth_type = trust
auth_file = ${dir}/userlist.txt
admin_users = ${user}
pool_mode = transaction
default_pool_size = ${poolSize}
max_db_connections = ${poolSize}
reserve_pool_size = 0
max_client_conn = 1000
; PgBouncer waits 15 s after a failed server login by default: a restored database would sit unused.
server_login_retry = 1
ignore_startup_parameters = extra_float_digits
log_connections = 0
log_disconnections = 0
`;
	await writeFile(path.join(dir, 'pgbouncer.ini'), ini);
	await writeFile(path.join(dir, 'userlist.txt'), `"${user}" ""\n`);
	// PgBouncer refuses to run as root; as another user it must still read its files.
	const root = process.getuid?.() === 0;
	if (root) {
		await chmod(dir, 0o755);
		for (const file of ['pgbouncer.ini', 'userlist.txt']) await chmod(path.join(dir, file), 0o644);
	}
	const child: ChildProcess = spawn(BINARY, [...(root ? ['-u', 'nobody'] : []), path.join(dir, 'pgbouncer.ini')], {
		stdio: ['ignore', 'pipe', 'pipe']
	});
	let output = '';
	const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
	await new Promise<void>((resolve, reject) => {
		const onData = (chunk: Buffer) => {
			output += chunk;
			if (output.includes('process up')) resolve();
		};
		child.stdout!.on('data', onData);
		child.stderr!.on('data', onData);
		child.once('exit', () => reject(new Error(`PgBouncer exited during start-up:\n${output}`)));
	});
	const url = (databaseUrl: string) => {
		const through = new URL(databaseUrl);
		through.hostname = '127.0.0.1';
		through.port = String(port);
		return through.toString();
	};
	return {
		port,
		url,
		async admin<T extends Record<string, unknown>>(command: string) {
			const console = postgres(url(`postgres://${user}@127.0.0.1/pgbouncer`), { max: 1, fetch_types: false, onnotice: () => {} });
			try {
				return (await console.unsafe(command)) as unknown as T[];
			} finally {
				await console.end();
			}
		},
		output: () => output,
		async stop() {
			if (child.exitCode === null) child.kill('SIGTERM');
			await exited;
			await rm(dir, { recursive: true, force: true });
		}
	};
}
