/**
 * Starts the server under test (the production build, `node server/index.js`) or a bare baseline
 * server as its own process, and times process start → first 200 from its readiness URL.
 */
import { spawn } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { freePort, now, sleep } from './util.js';

export const ROOT = path.resolve(import.meta.dirname, '../..');
/** The checkout whose build is measured: this one, or another (BENCH_APP_DIR) for before/after runs. */
export const APP_DIR = path.resolve(process.env.BENCH_APP_DIR ?? ROOT);

function getStatus(url) {
	return new Promise((resolve) => {
		const req = http.get(url, { agent: false }, (res) => {
			res.resume();
			resolve(res.statusCode);
		});
		req.on('error', () => resolve(0));
		req.setTimeout(2000, () => req.destroy());
	});
}

/**
 * Spawns `node <script>` and waits until `readyPath` answers 200.
 * Returns the process, its origin and readyMs (spawn → ready).
 */
export async function startProcess({ script, args = [], env = {}, nodeArgs = [], readyPath, timeoutMs = 120_000, label, cwd = ROOT }) {
	const port = env.PORT ? Number(env.PORT) : await freePort();
	const origin = `http://127.0.0.1:${port}`;
	const t0 = now();
	const child = spawn(process.execPath, [...nodeArgs, script, ...args], {
		cwd,
		env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', ORIGIN: origin, ...env },
		stdio: ['ignore', 'pipe', 'pipe']
	});
	let output = '';
	// BENCH_SERVER_LOG=<file> keeps every server's output, for debugging a run.
	const keep = (chunk) => {
		output = (output + chunk).slice(-20_000);
		if (process.env.BENCH_SERVER_LOG) appendFileSync(process.env.BENCH_SERVER_LOG, chunk);
	};
	child.stdout.on('data', keep);
	child.stderr.on('data', keep);
	const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
	let ready = false;
	const deadline = t0 + timeoutMs;
	while (!ready) {
		if (child.exitCode !== null || child.signalCode !== null) {
			throw new Error(`${label ?? script} exited during start-up:\n${output}`);
		}
		if (now() > deadline) {
			child.kill('SIGKILL');
			throw new Error(`${label ?? script} not ready after ${timeoutMs} ms:\n${output}`);
		}
		ready = (await getStatus(origin + readyPath)) === 200;
		if (!ready) await sleep(10);
	}
	const readyMs = now() - t0;
	return {
		pid: child.pid,
		port,
		origin,
		readyMs,
		output: () => output,
		async stop() {
			if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
			const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
			await exited;
			clearTimeout(timer);
		}
	};
}

/** The server under test on PostgreSQL (`databaseUrl`) or PGlite (`pgliteDir`). */
export function startDuet({ databaseUrl, pgliteDir, env = {}, nodeArgs = [] }) {
	return startProcess({
		script: 'server/index.js',
		cwd: APP_DIR,
		label: 'duet server',
		readyPath: '/readyz',
		nodeArgs,
		env: {
			NODE_ENV: 'production',
			DATABASE_URL: databaseUrl ?? '',
			...(pgliteDir ? { PGLITE_DIR: pgliteDir } : {}),
			// Every user here is a load generator on one address: limits would measure themselves.
			RATE_LIMIT: 'off',
			MAX_CONNECTIONS_PER_USER: '64',
			// The bare insert baseline runs 16 in flight; the server gets the same number of connections.
			DATABASE_POOL_SIZE: '16',
			...env
		}
	});
}
