/**
 * One batch transaction, the way each engine runs it fastest: on postgres.js BEGIN, a read, a
 * write chosen from what the read returned, and COMMIT, pipelined on one reserved connection (two
 * round trips however large the batch); on PGlite, in its worker thread, two round trips as well
 * (BEGIN with the read, the write with COMMIT).
 * Each Database carries the writer of its engine; group commit (chat/group-commit.ts) runs its
 * batches through it and knows nothing else of the engines.
 */
import type { DatabaseTimeouts } from '../config';
import { isLinkLost } from '../failures';
import type { PoolUse } from './pool-use';
import type { Reachability } from './reachability';

export interface Statement {
	text: string;
	params: unknown[];
}

export interface BatchWriter {
	/** Whether batches may be in flight at once (PGlite still runs one at a time, queued in its worker). */
	readonly parallel: boolean;
	/**
	 * After this long a batch is given up (its sends answered `unavailable`), whatever step it is
	 * at. postgres.js's deadlines end the transaction itself; a late COMMIT is still reported.
	 */
	readonly deadlineMs: number;
	/** False while the database is known to be away (PGlite is there while its worker lives). */
	readonly reachable: boolean;
	/**
	 * A batch ran past `deadlineMs` without an answer: the database counts as away from now on,
	 * so the sends that waited behind it fail at once instead of each waiting out a deadline too.
	 */
	gaveUp(error: Error): void;
	/** Calls `fail` as soon as the database is found away (see Reachability.watch); returns the release. */
	watchAway(fail: (error: Error) => void): () => void;
	/**
	 * Runs BEGIN, `read`, then `decide`'s write and COMMIT. Resolves once committed; rejects when
	 * nothing was stored or, with `committing` called, when the outcome is unknown.
	 */
	transact(read: Statement, decide: (rows: unknown[]) => Statement | null, committing?: () => void): Promise<void>;
}

/** What a writer on postgres.js asks of the pool's Reachability. */
export type Link = Pick<Reachability, 'reachable' | 'error' | 'failed' | 'succeeded' | 'watch'>;

/** How the pool's batches begin (postgres-client.ts transactionLimits) and where they are counted. */
export interface BatchPooling {
	transactionLimits?: string;
	use?: PoolUse;
}

export function postgresBatchWriter(
	client: PostgresJsLike,
	timeouts: DatabaseTimeouts,
	reachability: Link,
	pooling: BatchPooling = {}
): BatchWriter {
	return {
		parallel: true,
		deadlineMs: timeouts.answerMs,
		get reachable() {
			return reachability.reachable;
		},
		gaveUp: (error) => reachability.failed(error),
		watchAway: (fail) => reachability.watch(fail),
		transact: async (read, decide, committing) => {
			// Known away: fail at once; the pool's probe finds when it is back.
			if (!reachability.reachable) throw reachability.error();
			try {
				await pipelined(client, timeouts.acquireMs, pooling, read, decide, committing);
				reachability.succeeded();
			} catch (error) {
				reachability.failed(error);
				throw error;
			}
		}
	};
}

/** PGlite has no network to lose; its batches are bounded by the work in them. */
const PGLITE_DEADLINE_MS = 30_000;

/**
 * `parallel` for PGlite in its worker: a second batch's BEGIN then waits there behind the first's
 * COMMIT, so PGlite goes from one batch to the next without waiting for the server's thread.
 */
export function pgliteBatchWriter(client: PGliteLike, parallel = false): BatchWriter {
	return {
		parallel,
		deadlineMs: PGLITE_DEADLINE_MS,
		reachable: true,
		gaveUp: () => {},
		watchAway: () => () => {},
		transact: async (read, decide, committing) => {
			await client.transaction(async (tx) => {
				const write = decide((await tx.query(read.text, read.params)).rows);
				if (write && tx.commitWith) {
					// As on postgres.js, the write and COMMIT leave together (one round trip to the worker).
					committing?.();
					return tx.commitWith(write.text, write.params);
				}
				if (write) await tx.query(write.text, write.params);
				committing?.();
			});
		}
	};
}

/**
 * Every statement costs a message each way and a wake-up of both processes, which on a small
 * machine weighs more than the work the statement does: so all four leave together, in two writes.
 */
async function pipelined(
	client: PostgresJsLike,
	acquireMs: number,
	pooling: BatchPooling,
	read: Statement,
	decide: (rows: unknown[]) => Statement | null,
	committing?: () => void
): Promise<void> {
	let held = false;
	const untrack = pooling.use?.track(() => held);
	let connection: Awaited<ReturnType<PostgresJsLike['reserve']>>;
	try {
		connection = await reserveWithin(client, acquireMs);
		held = true;
	} catch (error) {
		untrack?.();
		throw error;
	}
	// Behind a pooler the client's `prepare: false` overrides this.
	const run = (s: Statement) => connection.unsafe(s.text, s.params as never[], { prepare: true });
	// One simple query: the limits leave with BEGIN, in the same message.
	const begin = pooling.transactionLimits ? `begin; ${pooling.transactionLimits}` : 'begin';
	try {
		const [, rows] = await Promise.all([connection.unsafe(begin), run(read)]);
		const write = decide(rows);
		committing?.();
		const settled = await Promise.allSettled([...(write ? [run(write)] : []), connection.unsafe('commit')]);
		// After a failed statement COMMIT rolls back: the batch is not stored.
		const failed = settled.find((r) => r.status === 'rejected');
		if (failed) throw (failed as PromiseRejectedResult).reason;
	} catch (error) {
		// A lost connection took its transaction with it; the (patched) driver refuses the ROLLBACK.
		// A statement cancelled by statement_timeout is not that: its connection lives on in an
		// aborted transaction, and released so it would fail every query of whoever gets it next.
		if (!isLinkLost(error)) await connection.unsafe('rollback').catch(() => {});
		throw error;
	} finally {
		// A no-op for a connection that closed: the pool has it back already.
		connection.release();
		untrack?.();
	}
}

export interface PGliteLike {
	transaction<T>(
		fn: (tx: {
			query(text: string, params?: unknown[]): Promise<{ rows: unknown[] }>;
			/** Runs the last statement and commits, in one step (the worker's transactions have it). */
			commitWith?(text: string, params?: unknown[]): Promise<void>;
		}) => Promise<T>
	): Promise<T>;
}

export interface PostgresJsLike {
	reserve(): Promise<{
		unsafe(text: string, params?: never[], options?: { prepare?: boolean }): Promise<unknown[]>;
		release(): void;
	}>;
}

/**
 * postgres.js waits for a free connection without end while the database is unreachable. Nothing
 * is sent before a connection is had, so giving up here is safe (the sends fail as unavailable and
 * their clients retry); a connection that turns up late is handed straight back.
 */
async function reserveWithin(client: PostgresJsLike, ms: number) {
	let timer: ReturnType<typeof setTimeout> | undefined;
	let timedOut = false;
	const reserving = client.reserve();
	try {
		return await Promise.race([
			reserving,
			new Promise<never>((_, reject) => {
				timer = setTimeout(() => {
					timedOut = true;
					reject(Object.assign(new Error('No database connection within the time allowed'), { code: 'CONNECT_TIMEOUT' }));
				}, ms);
			})
		]);
	} finally {
		clearTimeout(timer);
		if (timedOut)
			reserving.then(
				(late) => late.release(),
				() => {}
			);
	}
}
