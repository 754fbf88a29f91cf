/**
 * Small helpers shared by the benchmark's orchestrator and its child processes: a clock that
 * agrees across processes, progress logging, argument parsing, free ports, and a request/reply
 * protocol over Node's IPC channel so the orchestrator can drive load-generator children.
 */
import { fork } from 'node:child_process';
import net from 'node:net';

/** Milliseconds since the epoch with sub-millisecond resolution; comparable between processes. */
export const now = () => performance.timeOrigin + performance.now();

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const started = Date.now();

/** Progress goes to stderr so stdout stays clean for whoever pipes the run. */
export function log(...parts) {
	const t = ((Date.now() - started) / 1000).toFixed(1).padStart(6);
	process.stderr.write(`[bench ${t}s] ${parts.join(' ')}\n`);
}

export function parseArgs(argv) {
	const args = {};
	for (const arg of argv) {
		const match = /^--([^=]+)(?:=(.*))?$/.exec(arg);
		if (!match) throw new Error(`Unknown argument ${arg}`);
		args[match[1]] = match[2] ?? true;
	}
	return args;
}

export function freePort() {
	return new Promise((resolve, reject) => {
		const server = net.createServer();
		server.unref();
		server.on('error', reject);
		server.listen(0, '127.0.0.1', () => {
			const { port } = server.address();
			server.close(() => resolve(port));
		});
	});
}

/**
 * Forks a child that called `serve()`, and returns `call(cmd, payload)` that resolves with the
 * child's answer. The child's own errors come back as rejections with its stack.
 */
export function forkChild(file, { args = [], execArgv = [], env = {} } = {}) {
	const child = fork(file, args, { execArgv, env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
	let nextId = 1;
	const pending = new Map();
	child.on('message', (message) => {
		const waiter = pending.get(message.id);
		if (!waiter) return;
		pending.delete(message.id);
		if (message.ok) waiter.resolve(message.result);
		else waiter.reject(new Error(`child ${file}: ${message.error}`));
	});
	const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
	child.once('exit', (code, signal) => {
		for (const waiter of pending.values()) waiter.reject(new Error(`child ${file} exited (${code ?? signal})`));
		pending.clear();
	});
	return {
		pid: child.pid,
		call(cmd, payload) {
			return new Promise((resolve, reject) => {
				const id = nextId++;
				pending.set(id, { resolve, reject });
				child.send({ id, cmd, payload });
			});
		},
		async stop() {
			if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
			await exited;
		}
	};
}

/** The child side of forkChild: answers each request with its handler's result. */
export function serve(handlers) {
	process.on('message', async ({ id, cmd, payload }) => {
		try {
			const handler = handlers[cmd];
			if (!handler) throw new Error(`unknown command ${cmd}`);
			const result = await handler(payload);
			process.send({ id, ok: true, result });
		} catch (error) {
			process.send({ id, ok: false, error: error?.stack ?? String(error) });
		}
	});
	process.on('disconnect', () => process.exit(0));
}

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function pool(items, limit, fn) {
	let index = 0;
	const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
		while (index < items.length) {
			const i = index++;
			await fn(items[i], i);
		}
	});
	await Promise.all(workers);
}

/** Spreads client sockets over several loopback source addresses so ephemeral ports never run short. */
export function sourceAddress(i, spread = 4) {
	return `127.0.0.${1 + (i % spread)}`;
}

export function median(values) {
	const sorted = [...values].sort((a, b) => a - b);
	if (sorted.length === 0) return NaN;
	const mid = Math.floor(sorted.length / 2);
	return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
