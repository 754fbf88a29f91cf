/**
 * The one place that knows which PostgreSQL runs: embedded PGlite (the zero-setup default, or
 * in-memory for tests) or a real server through postgres.js. Everything else sees `Database`.
 */
import path from 'node:path';
import { sql } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { openPgliteDir } from './pglite-durable.js';
import { databaseTimeouts, type DatabaseTimeouts } from '../config';
import type { Reachability } from './reachability';
import * as schema from './schema';

export type Db = PgDatabase<PgQueryResultHKT, typeof schema>;
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];
export type Executor = Db | Tx;

export type Engine = 'pglite' | 'postgres';

export interface Database {
	db: Db;
	engine: Engine;
	/** The postgres.js URL when running on a real server (for LISTEN/NOTIFY); undefined on PGlite. */
	url?: string;
	/** The deadlines of the postgres.js clients; undefined on PGlite. */
	timeouts?: DatabaseTimeouts;
	ping(): Promise<void>;
	close(): Promise<void>;
}

export interface OpenOptions {
	/** PGlite on a directory without syncing to disk (see config.ts): for throwaway data only. */
	pgliteUnsafeNoFsync?: boolean;
	timeouts?: DatabaseTimeouts;
	/** PostgreSQL connections of the pool (DATABASE_POOL_SIZE). */
	poolSize?: number;
	/** Where the migrations are (MIGRATIONS_DIR); relative to the working directory. */
	migrationsDir?: string;
}

function migrationsFolder(options: OpenOptions): string {
	return path.resolve(options.migrationsDir ?? 'drizzle');
}

export async function openDatabase(databaseUrl: string | undefined, pgliteDir: string, options: OpenOptions = {}): Promise<Database> {
	const database =
		databaseUrl && /^postgres(ql)?:\/\//.test(databaseUrl)
			? await openPostgres(databaseUrl, options.timeouts ?? databaseTimeouts(), options)
			: await openPglite(databaseUrl === 'memory://' ? undefined : pgliteDir, options);
	return database;
}

async function openPostgres(url: string, timeouts: DatabaseTimeouts, options: OpenOptions): Promise<Database> {
	const { drizzle } = await import('drizzle-orm/postgres-js');
	const { migrate } = await import('drizzle-orm/postgres-js/migrator');
	const { createPostgresClient } = await import('./postgres-client');
	// Migrations get a connection of their own, without the statement deadline of requests.
	const migrator = createPostgresClient(url, timeouts, { max: 1, statementTimeout: false });
	try {
		await migrate(drizzle({ client: migrator, schema }), { migrationsFolder: migrationsFolder(options) });
	} finally {
		await migrator.end({ timeout: 5 });
	}
	const client = createPostgresClient(url, timeouts, { max: options.poolSize ?? 10 });
	const { Reachability, setReachability } = await import('./reachability');
	const reachability = new Reachability(() => within(timeouts.answerMs, 'The database did not answer the probe', () => client`select 1`), PROBE_MS);
	const db = drizzle({ client: preferPrepared(client, timeouts.answerMs, reachability), schema });
	setReachability(client, reachability);
	return {
		db: db as unknown as Db,
		engine: 'postgres',
		url,
		timeouts,
		ping: () => within(timeouts.answerMs, 'The database did not answer the readiness probe', async () => {
			await db.execute(sql`select 1`);
		}),
		close: () => {
			reachability.close();
			return client.end({ timeout: 5 });
		}
	};
}

/** While the database cannot be reached, it is tried this often. */
const PROBE_MS = 200;

/**
 * Gives up waiting on `fn` after `ms` with a connection-class error (so callers answer 503). The
 * work itself is not abandoned: the driver's own deadlines end it, and its late result is dropped.
 */
export async function within<T>(ms: number, message: string, fn: () => Promise<T>): Promise<T> {
	let timer: ReturnType<typeof setTimeout> | undefined;
	const work = fn();
	work.catch(() => {});
	try {
		return await Promise.race([
			work,
			new Promise<never>((_, reject) => {
				timer = setTimeout(() => reject(Object.assign(new Error(message), { code: 'ETIMEDOUT' })), ms);
			})
		]);
	} finally {
		clearTimeout(timer);
	}
}

type PostgresSql = import('postgres').Sql;

/**
 * What drizzle runs goes through here. Named statements: drizzle asks postgres.js for unnamed
 * ones, and postgres.js describes each parameterised unnamed statement before running it (two round
 * trips per query, and nothing pipelines behind it); named ones are prepared once per connection.
 * And a deadline: postgres.js queues a query without end while no connection can be had, so a
 * query not answered within `ms` fails as unavailable (one still queued is taken out of the queue).
 */
function preferPrepared<S extends PostgresSql>(sql: S, ms: number, reachability: Reachability): S {
	const unsafe = sql.unsafe.bind(sql);
	sql.unsafe = ((query: string, params?: never[], options?: object) =>
		withDeadline(unsafe(query, params, { ...options, prepare: true }), ms, reachability)) as S['unsafe'];
	// Inside a transaction there is no `begin`, only the connection's own `unsafe`.
	if (typeof sql.begin !== 'function') return sql;
	const begin = sql.begin.bind(sql) as (...args: unknown[]) => Promise<unknown>;
	sql.begin = ((...args: unknown[]) => {
		const fn = args.pop() as (tx: PostgresSql) => unknown;
		return begin(...args, (tx: PostgresSql) => fn(preferPrepared(tx, ms, reachability)));
	}) as S['begin'];
	return sql;
}

type LazyQuery = PromiseLike<unknown> & { state?: unknown; cancel(): unknown };

/**
 * postgres.js runs a query when it is first awaited (drizzle calls `.values()` on it before that),
 * so the deadline starts there, on the same object; and a query is not even tried while the
 * database is known to be unreachable.
 */
function withDeadline<Q>(query: Q, ms: number, reachability: Reachability): Q {
	const lazy = query as unknown as LazyQuery;
	const then = lazy.then.bind(lazy);
	lazy.then = ((onFulfilled?: (value: unknown) => unknown, onRejected?: (reason: unknown) => unknown) =>
		new Promise((resolve, reject) => {
			if (!reachability.reachable) {
				reject(reachability.error());
				return;
			}
			const giveUp = (error: Error) => {
				clearTimeout(timer);
				unwatch();
				// Not handed to a connection yet: leave the queue, so it never runs late.
				if (!lazy.state) Promise.resolve(lazy.cancel()).catch(() => {});
				reject(error);
			};
			const timer = setTimeout(() => {
				const error = Object.assign(new Error(`The database did not answer within ${ms} ms`), { code: 'ETIMEDOUT' });
				giveUp(error);
				reachability.failed(error);
			}, ms);
			const unwatch = reachability.watch(giveUp);
			then(
				(value) => {
					clearTimeout(timer);
					unwatch();
					reachability.succeeded();
					resolve(value);
				},
				(error) => {
					clearTimeout(timer);
					unwatch();
					reachability.failed(error);
					reject(error);
				}
			);
		}).then(onFulfilled, onRejected)) as typeof lazy.then;
	return query;
}

async function openPglite(dir: string | undefined, options: OpenOptions): Promise<Database> {
	const { PGlite } = await import('@electric-sql/pglite');
	const { drizzle } = await import('drizzle-orm/pglite');
	const { migrate } = await import('drizzle-orm/pglite/migrator');
	const client = dir ? await openPgliteDir(dir, { unsafeNoFsync: options.pgliteUnsafeNoFsync }) : new PGlite();
	const db = drizzle({ client, schema });
	await migrate(db, { migrationsFolder: migrationsFolder(options) });
	return {
		db: db as unknown as Db,
		engine: 'pglite',
		ping: async () => {
			await db.execute(sql`select 1`);
		},
		close: () => client.close()
	};
}
