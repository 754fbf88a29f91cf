/**
 * What drizzle's postgres-js driver is given in place of the pool: an object with exactly the
 * members the driver uses (`options`, `unsafe`, `begin`, and `savepoint` inside a transaction),
 * each handing on to the real client, so the client itself stays as postgres.js made it.
 *
 * Named statements: drizzle asks for unnamed ones, and postgres.js describes each parameterised
 * unnamed statement before running it (two round trips per query, and nothing pipelines behind
 * it); named ones are prepared once per connection. And a deadline: postgres.js queues a query
 * without end while no connection can be had, so a query not answered within `ms` fails as
 * unavailable (one still queued is taken out of the queue).
 *
 * Behind a transaction-mode pooler (`Pooling`), where the session has no deadlines of its own,
 * each transaction sets them first, and a statement outside one is cancelled at the statement
 * deadline, as statement_timeout would end it. (The client's `prepare: false` then overrides the
 * named statements.)
 */
import type postgres from 'postgres';
import type { PoolUse } from './pool-use';
import type { Reachability } from './reachability';

type Sql = postgres.Sql | postgres.TransactionSql;
type Params = Parameters<postgres.Sql['unsafe']>[1];

/** What drizzle-orm/postgres-js calls on a client (its session.js and driver.js). */
interface Queries {
	unsafe(query: string, params?: Params, options?: postgres.UnsafeQueryOptions): DeadlineQuery;
}

export interface DrizzleClient extends Queries {
	/** The real client's own: drizzle replaces some of its parsers and serializers. */
	readonly options: postgres.Sql['options'];
	begin<T>(fn: (tx: DrizzleTransaction) => T | Promise<T>): Promise<unknown>;
}

interface DrizzleTransaction extends Queries {
	savepoint<T>(fn: (tx: DrizzleTransaction) => T | Promise<T>): Promise<unknown>;
}

export interface Pooling {
	/** Run first in every transaction (postgres-client.ts transactionLimits). */
	transactionLimits?: string;
	/** A statement outside a transaction still running after this long is cancelled. */
	statementMs?: number;
	/** Where the pool's use is counted for /metrics. */
	use?: PoolUse;
}

export function drizzleClient(sql: postgres.Sql, ms: number, reachability: Reachability, pooling: Pooling = {}): DrizzleClient {
	return {
		options: sql.options,
		unsafe: unsafe(sql, ms, reachability, pooling),
		begin: async (fn) => {
			let held = false;
			const release = pooling.use?.track(() => held);
			try {
				return await sql.begin((tx) => {
					held = true;
					if (!pooling.transactionLimits) return fn(inTransaction(tx, ms, reachability));
					// Sent before `fn` runs, so it reaches the server ahead of the transaction's first statement.
					const limits = tx.unsafe(pooling.transactionLimits).execute();
					// Its failure fails the transaction's next statement too; `fn` may throw before the all.
					limits.catch(() => {});
					const inner = fn(inTransaction(tx, ms, reachability));
					return Promise.all([limits, inner]).then(([, result]) => result);
				});
			} finally {
				release?.();
			}
		}
	};
}

function inTransaction(tx: postgres.TransactionSql, ms: number, reachability: Reachability): DrizzleTransaction {
	return {
		unsafe: unsafe(tx, ms, reachability, {}),
		savepoint: (fn) => tx.savepoint((inner) => fn(inTransaction(inner, ms, reachability)))
	};
}

function unsafe(sql: Sql, ms: number, reachability: Reachability, pooling: Pooling): Queries['unsafe'] {
	return (query, params, options) => new DeadlineQuery(sql.unsafe(query, params, { ...options, prepare: true }), ms, reachability, pooling);
}

/**
 * postgres.js runs a query when it is first awaited (drizzle calls `.values()` on it before that),
 * so the deadline starts there; and a query is not even tried while the database is known to be
 * unreachable.
 */
class DeadlineQuery implements PromiseLike<unknown> {
	private answer?: Promise<unknown>;

	constructor(
		private readonly query: postgres.PendingQuery<postgres.Row[]>,
		private readonly ms: number,
		private readonly reachability: Reachability,
		private readonly pooling: Pooling = {}
	) {}

	/** Rows as arrays of values, the shape drizzle maps its selected fields from. */
	values(): this {
		this.query.values();
		return this;
	}

	then<A = unknown, B = never>(
		onFulfilled?: ((value: unknown) => A | PromiseLike<A>) | null,
		onRejected?: ((reason: unknown) => B | PromiseLike<B>) | null
	): Promise<A | B> {
		this.answer ??= this.run();
		return this.answer.then(onFulfilled, onRejected);
	}

	private run(): Promise<unknown> {
		const { query, ms, reachability } = this;
		const { statementMs, use } = this.pooling;
		const sent = () => Boolean((query as unknown as { state?: unknown }).state);
		return new Promise((resolve, reject) => {
			if (!reachability.reachable) {
				reject(reachability.error());
				return;
			}
			const release = use?.track(sent);
			// The server answers the cancel with query_canceled, as it would statement_timeout.
			const end = () => void Promise.resolve(query.cancel()).catch(() => {});
			const cancel = statementMs === undefined ? undefined : setTimeout(() => (sent() ? end() : undefined), statementMs);
			const done = () => {
				clearTimeout(timer);
				clearTimeout(cancel);
				release?.();
				unwatch();
			};
			const giveUp = (error: Error) => {
				done();
				// Not handed to a connection yet: leave the queue, so it never runs late. Sent, behind a
				// pooler, nothing on the server would end it.
				if (!sent() || statementMs !== undefined) end();
				reject(error);
			};
			const timer = setTimeout(() => {
				const error = Object.assign(new Error(`The database did not answer within ${ms} ms`), { code: 'ETIMEDOUT' });
				giveUp(error);
				reachability.failed(error);
			}, ms);
			const unwatch = reachability.watch(giveUp);
			query.then(
				(value) => {
					done();
					reachability.succeeded();
					resolve(value);
				},
				(error: unknown) => {
					done();
					reachability.failed(error);
					reject(error);
				}
			);
		});
	}
}
