/**
 * The one place that knows which PostgreSQL runs: embedded PGlite (the zero-setup default, or
 * in-memory for tests) or a real server through postgres.js. Everything else sees `Database`.
 */
import path from 'node:path';
import { sql } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { openPgliteDir } from './pglite-durable.js';
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
	ping(): Promise<void>;
	close(): Promise<void>;
}

const MIGRATIONS_FOLDER = path.resolve(process.env.MIGRATIONS_DIR ?? 'drizzle');

export interface OpenOptions {
	/** PGlite on a directory without syncing to disk (see config.ts): for throwaway data only. */
	pgliteUnsafeNoFsync?: boolean;
}

export async function openDatabase(databaseUrl: string | undefined, pgliteDir: string, options: OpenOptions = {}): Promise<Database> {
	const database =
		databaseUrl && /^postgres(ql)?:\/\//.test(databaseUrl)
			? await openPostgres(databaseUrl)
			: await openPglite(databaseUrl === 'memory://' ? undefined : pgliteDir, options);
	return database;
}

async function openPostgres(url: string): Promise<Database> {
	const { default: postgres } = await import('postgres');
	const { drizzle } = await import('drizzle-orm/postgres-js');
	const { migrate } = await import('drizzle-orm/postgres-js/migrator');
	const client = postgres(url, {
		max: Number(process.env.DATABASE_POOL_SIZE ?? 10),
		onnotice: () => {},
		connect_timeout: 10
	});
	const db = drizzle({ client: preferPrepared(client), schema });
	await migrate(db, { migrationsFolder: MIGRATIONS_FOLDER });
	return {
		db: db as unknown as Db,
		engine: 'postgres',
		url,
		ping: async () => {
			await db.execute(sql`select 1`);
		},
		close: () => client.end({ timeout: 5 })
	};
}

type PostgresSql = import('postgres').Sql;

/**
 * drizzle asks postgres.js for unnamed statements, and postgres.js describes each parameterised
 * unnamed statement before running it: two round trips per query, and nothing pipelines behind it.
 * Named statements, prepared once per connection and cached, take one round trip and pipeline.
 */
function preferPrepared<S extends PostgresSql>(sql: S): S {
	const unsafe = sql.unsafe.bind(sql);
	sql.unsafe = ((query: string, params?: never[], options?: object) => unsafe(query, params, { ...options, prepare: true })) as S['unsafe'];
	// Inside a transaction there is no `begin`, only the connection's own `unsafe`.
	if (typeof sql.begin !== 'function') return sql;
	const begin = sql.begin.bind(sql) as (...args: unknown[]) => Promise<unknown>;
	sql.begin = ((...args: unknown[]) => {
		const fn = args.pop() as (tx: PostgresSql) => unknown;
		return begin(...args, (tx: PostgresSql) => fn(preferPrepared(tx)));
	}) as S['begin'];
	return sql;
}

async function openPglite(dir: string | undefined, options: OpenOptions): Promise<Database> {
	const { PGlite } = await import('@electric-sql/pglite');
	const { drizzle } = await import('drizzle-orm/pglite');
	const { migrate } = await import('drizzle-orm/pglite/migrator');
	const client = dir ? await openPgliteDir(dir, { unsafeNoFsync: options.pgliteUnsafeNoFsync }) : new PGlite();
	const db = drizzle({ client, schema });
	await migrate(db, { migrationsFolder: MIGRATIONS_FOLDER });
	return {
		db: db as unknown as Db,
		engine: 'pglite',
		ping: async () => {
			await db.execute(sql`select 1`);
		},
		close: () => client.close()
	};
}
