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
 */
import type postgres from 'postgres';
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

export function drizzleClient(sql: postgres.Sql, ms: number, reachability: Reachability): DrizzleClient {
	return {
		options: sql.options,
		unsafe: unsafe(sql, ms, reachability),
		begin: (fn) => sql.begin((tx) => fn(inTransaction(tx, ms, reachability)))
	};
}

function inTransaction(tx: postgres.TransactionSql, ms: number, reachability: Reachability): DrizzleTransaction {
	return {
		unsafe: unsafe(tx, ms, reachability),
		savepoint: (fn) => tx.savepoint((inner) => fn(inTransaction(inner, ms, reachability)))
	};
}

function unsafe(sql: Sql, ms: number, reachability: Reachability): Queries['unsafe'] {
	return (query, params, options) => new DeadlineQuery(sql.unsafe(query, params, { ...options, prepare: true }), ms, reachability);
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
		private readonly reachability: Reachability
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
		return new Promise((resolve, reject) => {
			if (!reachability.reachable) {
				reject(reachability.error());
				return;
			}
			const giveUp = (error: Error) => {
				clearTimeout(timer);
				unwatch();
				// Not handed to a connection yet: leave the queue, so it never runs late.
				if (!(query as unknown as { state?: unknown }).state) Promise.resolve(query.cancel()).catch(() => {});
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
					clearTimeout(timer);
					unwatch();
					reachability.succeeded();
					resolve(value);
				},
				(error: unknown) => {
					clearTimeout(timer);
					unwatch();
					reachability.failed(error);
					reject(error);
				}
			);
		});
	}
}
