/**
 * The worker thread that owns embedded PGlite, so its statements (WebAssembly, and the fsync of
 * every commit) run beside the server's event loop instead of on it. pglite-client.ts is the other
 * end; each message is one request, answered once with the same `id`.
 *
 * Plain JavaScript, like pglite-durable.js: the unbundled server (vitest, `vite dev`) starts it
 * from src/, and the build bundles it as build/pglite-worker.js (vite.admin.config.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openPglite } from './pglite-durable.js';

/** @typedef {{ text: string, params?: unknown[], options?: { rowMode?: 'array' | 'object', textTypes?: number[] } }} Query */

const port = /** @type {import('node:worker_threads').MessagePort} */ (parentPort);
const pg = await openPglite(workerData);

/**
 * Open transactions by id: each is PGlite's own `transaction`, held open until its `end` arrives,
 * so PGlite's lock keeps every other statement out of it meanwhile, as it does in-process.
 * @type {Map<number, { tx: import('@electric-sql/pglite').Transaction, finish: (commit: boolean) => void, done: Promise<unknown> }>}
 */
const open = new Map();
let nextTx = 1;

/**
 * Parsers are functions and cannot cross threads; drizzle's only keep some types as text, which
 * the client names instead.
 * @param {Query['options']} options
 */
function queryOptions(options) {
	if (!options) return undefined;
	const parsers = Object.fromEntries((options.textTypes ?? []).map((oid) => [oid, (/** @type {string} */ value) => value]));
	return { rowMode: options.rowMode, parsers };
}

/**
 * @param {{ query: import('@electric-sql/pglite').PGlite['query'] }} on
 * @param {Query} q
 */
async function run(on, q) {
	const { rows, fields, affectedRows } = await on.query(q.text, q.params, queryOptions(q.options));
	return { rows, fields, affectedRows };
}

/**
 * BEGIN and the transaction's first statement in one message, so a transaction of one read and
 * one write costs the main thread two round trips.
 * @param {Query | undefined} first
 */
async function begin(first) {
	const id = nextTx++;
	/** @type {(value: unknown) => void} */
	let started = () => {};
	const ready = new Promise((resolve) => (started = resolve));
	const done = pg.transaction(async (tx) => {
		const ended = new Promise((resolve) => open.set(id, { tx, finish: resolve, done }));
		started(undefined);
		if (!(await ended)) await tx.rollback();
	});
	// A transaction that failed to begin has nothing to end.
	done.catch(() => open.delete(id));
	await Promise.race([ready, done]);
	const entry = /** @type {NonNullable<ReturnType<typeof open.get>>} */ (open.get(id));
	if (!first) return { tx: id };
	try {
		return { tx: id, result: await run(entry.tx, first) };
	} catch (error) {
		// The client never learns the id: the statement failed, so the transaction is over.
		await end(id, false).catch(() => {});
		throw error;
	}
}

/**
 * @param {number} id
 * @param {boolean} commit
 * @param {Query} [last]
 */
async function end(id, commit, last) {
	const entry = open.get(id);
	if (!entry) throw Object.assign(new Error('No such transaction'), { code: '25P01' });
	let result;
	try {
		if (last && commit) result = await run(entry.tx, last);
	} catch (error) {
		open.delete(id);
		entry.finish(false);
		await entry.done.catch(() => {});
		throw error;
	}
	open.delete(id);
	entry.finish(commit);
	await entry.done;
	return { result };
}

/** @param {any} message */
async function handle(message) {
	switch (message.op) {
		case 'query':
			return run(message.tx ? txOf(message.tx) : pg, message);
		case 'exec':
			return (message.tx ? txOf(message.tx) : pg).exec(message.text);
		case 'begin':
			return begin(message.first);
		case 'end':
			return end(message.tx, message.commit, message.last);
		case 'close':
			await pg.close();
			return null;
		default:
			throw new Error(`Unknown request ${message.op}`);
	}
}

/** @param {number} id */
function txOf(id) {
	const entry = open.get(id);
	if (!entry) throw Object.assign(new Error('No such transaction'), { code: '25P01' });
	return entry.tx;
}

/**
 * An Error loses its own properties on the way to another thread; PostgreSQL's fields (`code`
 * above all: the app maps 23505, 40001, …) are what callers read.
 * @param {unknown} error
 */
function serialise(error) {
	if (!(error instanceof Error)) return { message: String(error) };
	const fields = Object.fromEntries(Object.entries(error).filter(([, value]) => typeof value !== 'function' && typeof value !== 'object'));
	return { ...fields, name: error.name, message: error.message, stack: error.stack };
}

port.on('message', (message) => {
	handle(message).then(
		(result) => port.postMessage({ id: message.id, result }),
		(error) => port.postMessage({ id: message.id, error: serialise(error) })
	);
});
port.postMessage({ ready: true });
