/**
 * The one place that knows which PostgreSQL runs: embedded PGlite (the zero-setup default, or
 * in-memory for tests) or a real server through postgres.js. Everything else sees `Database`.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { sql } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { databaseTimeouts, type DatabaseTimeouts } from '../config';
import { pgliteBatchWriter, postgresBatchWriter, type BatchWriter } from './batch';
import { PoolUse, type PoolUseSnapshot } from './pool-use';
import * as schema from './schema';

export type Db = PgDatabase<PgQueryResultHKT, typeof schema>;
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];
export type Executor = Db | Tx;

export interface Database {
	db: Db;
	/** Group commit's transactions, run the way this engine runs them fastest (batch.ts). */
	batch: BatchWriter;
	/** Where LISTEN/NOTIFY reach this same database; undefined on PGlite, which serves one process. */
	notifyUrl?: string;
	/** The query pool's use right now, for /metrics; undefined on PGlite, which has no pool. */
	poolUse?: () => PoolUseSnapshot;
	ping(): Promise<void>;
	close(): Promise<void>;
}

export interface OpenOptions {
	/** PGlite on a directory without syncing to disk (see config.ts): for throwaway data only. */
	pgliteUnsafeNoFsync?: boolean;
	timeouts?: DatabaseTimeouts;
	/** PostgreSQL connections of the pool (DATABASE_POOL_SIZE). */
	poolSize?: number;
	/**
	 * PostgreSQL itself, when the URL is a transaction-mode pooler (DATABASE_DIRECT_URL): the
	 * migrations and LISTEN/NOTIFY need a session of their own, and the pool then keeps none.
	 */
	directUrl?: string;
	/** Where the migrations are (MIGRATIONS_DIR); relative to the working directory. */
	migrationsDir?: string;
	/** Where the build is (BUILD_DIR): PGlite's worker and the template of a new cluster. */
	buildDir?: string;
	/** PGlite's worker thread died unasked; every query fails as `unavailable` from then on. */
	onPgliteLost?: (error: Error) => void;
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
	const { createPostgresClient, transactionLimits } = await import('./postgres-client');
	const direct = options.directUrl ?? url;
	const pooled = options.directUrl !== undefined;
	// Migrations get a connection of their own, without the statement deadline of requests.
	const migrator = createPostgresClient(direct, timeouts, { max: 1, statementTimeout: false });
	try {
		await migrate(drizzle({ client: migrator, schema }), { migrationsFolder: migrationsFolder(options) });
	} finally {
		await migrator.end({ timeout: 5 });
	}
	const size = options.poolSize ?? 10;
	const client = createPostgresClient(url, timeouts, { max: size, pooled });
	const use = new PoolUse(size);
	const limits = transactionLimits(timeouts, pooled);
	const { Reachability } = await import('./reachability');
	const { drizzleClient } = await import('./postgres-drizzle');
	const reachability = new Reachability(
		() => within(timeouts.answerMs, 'The database did not answer the probe', () => client`select 1`),
		PROBE_MS
	);
	// drizzle types its client as the whole of postgres.js; it calls only what DrizzleClient has.
	const pooling = { transactionLimits: limits, statementMs: pooled ? timeouts.statementMs : undefined, use };
	const db = drizzle({ client: drizzleClient(client, timeouts.answerMs, reachability, pooling) as unknown as PostgresSql, schema });
	return {
		db: db as unknown as Db,
		batch: postgresBatchWriter(client, timeouts, reachability, { transactionLimits: limits, use }),
		notifyUrl: direct,
		poolUse: () => use.snapshot(),
		ping: () =>
			within(timeouts.answerMs, 'The database did not answer the readiness probe', async () => {
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

async function openPglite(dir: string | undefined, options: OpenOptions): Promise<Database> {
	const { drizzle } = await import('drizzle-orm/pglite');
	const { migrate } = await import('drizzle-orm/pglite/migrator');
	const { PgliteWorkerClient } = await import('./pglite-client');
	const buildDir = path.resolve(options.buildDir ?? 'build');
	const client = await PgliteWorkerClient.start(
		pgliteWorkerFile(buildDir),
		{ dir, unsafeNoFsync: options.pgliteUnsafeNoFsync, template: path.join(buildDir, PGLITE_TEMPLATE) },
		options.onPgliteLost ?? (() => {})
	);
	// drizzle types its client as the whole of PGlite; it calls only what the worker client has.
	const db = drizzle({ client: client as unknown as PGlite, schema });
	await migrate(db, { migrationsFolder: migrationsFolder(options) });
	return {
		db: db as unknown as Db,
		batch: pgliteBatchWriter(client, true),
		ping: async () => {
			await db.execute(sql`select 1`);
		},
		close: () => client.close()
	};
}

type PGlite = import('@electric-sql/pglite').PGlite;

/** A fresh, migrated cluster, dumped by `npm run build` (scripts/pglite-template.js). */
export const PGLITE_TEMPLATE = 'pglite-template.tar.gz';

/**
 * Unbundled (vitest, `vite dev`) the worker is the source file beside this one; in the build,
 * where this module is a chunk of the server bundle, it is build/pglite-worker.js.
 */
function pgliteWorkerFile(buildDir: string): URL {
	const beside = new URL('./pglite-worker.js', import.meta.url);
	return existsSync(beside) ? beside : pathToFileURL(path.join(buildDir, 'pglite-worker.js'));
}
