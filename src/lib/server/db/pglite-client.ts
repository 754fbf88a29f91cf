/**
 * Embedded PGlite in a worker thread (pglite-worker.js), seen from the server's thread: the part
 * of PGlite's interface that drizzle-orm/pglite and the batch writer call (query, exec,
 * transaction, close), each call one message. Off the event loop, a statement (WebAssembly, and
 * a commit's fsync) no longer stalls every socket of the server while it runs.
 */
import { Worker } from 'node:worker_threads';
import type { PgliteOptions } from './pglite-durable.js';

export interface Results<T = unknown> {
	rows: T[];
	fields: { name: string; dataTypeID: number }[];
	affectedRows?: number;
}

export interface QueryOptions {
	rowMode?: 'array' | 'object';
	/** drizzle's parsers; the types they name are kept as text (all it asks of them). */
	parsers?: Record<number, unknown>;
}

export interface WorkerTransaction {
	query<T>(text: string, params?: unknown[], options?: QueryOptions): Promise<Results<T>>;
	exec(text: string): Promise<Results[]>;
	rollback(): Promise<void>;
	/** The last statement and COMMIT in one round trip; the transaction is over after it. */
	commitWith(text: string, params?: unknown[]): Promise<void>;
	readonly closed: boolean;
}

interface Pending {
	resolve(value: unknown): void;
	reject(error: Error): void;
}

/** crash_shutdown: the app answers it `unavailable` (failures.ts) like any database gone away. */
const LOST = '57P02';

export class PgliteWorkerClient {
	readonly #worker: Worker;
	readonly #pending = new Map<number, Pending>();
	#nextId = 1;
	#lost: Error | undefined;
	#closing = false;

	private constructor(worker: Worker, onLost: (error: Error) => void) {
		this.#worker = worker;
		worker.on('message', (message: { id: number; result?: unknown; error?: Record<string, unknown> }) => {
			const pending = this.#pending.get(message.id);
			if (!pending) return;
			this.#pending.delete(message.id);
			if (message.error) pending.reject(revive(message.error));
			else pending.resolve(message.result);
		});
		const lose = (error: Error) => {
			if (this.#lost) return;
			this.#lost = Object.assign(new Error(`The database worker stopped: ${error.message}`, { cause: error }), { code: LOST });
			for (const pending of this.#pending.values()) pending.reject(this.#lost);
			this.#pending.clear();
			if (!this.#closing) onLost(this.#lost);
		};
		worker.on('error', lose);
		worker.on('exit', (code) => lose(new Error(`exit code ${code}`)));
	}

	/**
	 * Starts the worker and waits until PGlite is open (and migrated by the caller after). `onLost`
	 * hears once if the worker dies unasked; every call then fails as `unavailable`.
	 */
	static async start(file: URL | string, options: PgliteOptions, onLost: (error: Error) => void): Promise<PgliteWorkerClient> {
		const worker = new Worker(file, { workerData: options });
		await new Promise<void>((resolve, reject) => {
			const fail = (error: Error) => reject(error);
			const exit = (code: number) => reject(new Error(`The database worker exited with code ${code} while opening`));
			worker.once('error', fail);
			worker.once('exit', exit);
			worker.once('message', () => {
				worker.off('error', fail);
				worker.off('exit', exit);
				resolve();
			});
		});
		return new PgliteWorkerClient(worker, onLost);
	}

	#send<T>(message: Record<string, unknown>): Promise<T> {
		if (this.#lost) return Promise.reject(this.#lost);
		const id = this.#nextId++;
		return new Promise<T>((resolve, reject) => {
			this.#pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
			this.#worker.postMessage({ ...message, id });
		});
	}

	/*
	 * Sent at once, not one after the other: PGlite's own lock in the worker orders them (and keeps
	 * them out of an open transaction), so the worker never waits for this thread between two.
	 */
	query<T>(text: string, params?: unknown[], options?: QueryOptions): Promise<Results<T>> {
		return this.#send({ op: 'query', text, params, options: wire(options) });
	}

	exec(text: string): Promise<Results[]> {
		return this.#send({ op: 'exec', text });
	}

	/**
	 * BEGIN leaves with the first statement and COMMIT after the last answer; the statements
	 * between are one round trip each. A throw (or `rollback()`) rolls back.
	 */
	async transaction<T>(fn: (tx: WorkerTransaction) => Promise<T>): Promise<T> {
		let id: number | undefined;
		let closed = false;
		let beginning: Promise<{ tx: number; result?: unknown }> | undefined;
		const ensureOpen = () => {
			if (closed) throw new Error('Transaction is closed');
		};
		const statement = async <R>(op: 'query' | 'exec', text: string, params?: unknown[], options?: QueryOptions): Promise<R> => {
			ensureOpen();
			if (id !== undefined) return this.#send<R>({ op, tx: id, text, params, options: wire(options) });
			if (beginning) {
				await beginning;
				return statement<R>(op, text, params, options);
			}
			const first = op === 'query' ? { text, params, options: wire(options) } : undefined;
			beginning = this.#send<{ tx: number; result?: unknown }>({ op: 'begin', first });
			const begun = await beginning;
			id = begun.tx;
			return op === 'query' ? (begun.result as R) : this.#send<R>({ op, tx: id, text });
		};
		const tx: WorkerTransaction = {
			query: (text, params, options) => statement('query', text, params, options),
			exec: (text) => statement('exec', text),
			commitWith: async (text, params) => {
				if (id === undefined) await statement('query', 'select 1');
				ensureOpen();
				closed = true;
				await this.#send({ op: 'end', tx: id, commit: true, last: { text, params } });
			},
			rollback: async () => {
				ensureOpen();
				closed = true;
				if (id !== undefined) await this.#send({ op: 'end', tx: id, commit: false });
			},
			get closed() {
				return closed;
			}
		};
		let result: T;
		try {
			result = await fn(tx);
		} catch (error) {
			if (!closed && id !== undefined) await this.#send({ op: 'end', tx: id, commit: false }).catch(() => {});
			closed = true;
			throw error;
		}
		if (!closed && id !== undefined) {
			closed = true;
			await this.#send({ op: 'end', tx: id, commit: true });
		}
		closed = true;
		return result;
	}

	/** Closes PGlite (its last checkpoint included) and ends the worker. */
	async close(): Promise<void> {
		if (this.#closing) return;
		this.#closing = true;
		try {
			await this.#send({ op: 'close' });
		} finally {
			await this.#worker.terminate();
		}
	}

	/** For tests of a crash: ends the worker as a fault would. */
	kill(): Promise<number> {
		return this.#worker.terminate();
	}
}

function wire(options: QueryOptions | undefined) {
	if (!options) return undefined;
	return { rowMode: options.rowMode, textTypes: Object.keys(options.parsers ?? {}).map(Number) };
}

function revive(fields: Record<string, unknown>): Error {
	const { message, stack, ...rest } = fields;
	const error = Object.assign(new Error(String(message)), rest);
	if (typeof stack === 'string') error.stack = stack;
	return error;
}
