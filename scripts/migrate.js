/**
 * `npm run db:migrate`: applies drizzle/ to the database the app would use (DATABASE_URL, or
 * embedded PGlite at PGLITE_DIR). The server also does this at start-up; this is for operators
 * who prefer to migrate as a separate deploy step.
 */
import path from 'node:path';

const url = process.env.DATABASE_URL;
const folder = path.resolve(process.env.MIGRATIONS_DIR ?? 'drizzle');

if (url && /^postgres(ql)?:\/\//.test(url)) {
	const { default: postgres } = await import('postgres');
	const { drizzle } = await import('drizzle-orm/postgres-js');
	const { migrate } = await import('drizzle-orm/postgres-js/migrator');
	const client = postgres(url, { max: 1, onnotice: () => {} });
	await migrate(drizzle({ client }), { migrationsFolder: folder });
	await client.end();
	console.log('Migrated PostgreSQL database');
} else {
	const dir = process.env.PGLITE_DIR || './data/pglite';
	const { openPgliteDir } = await import('../src/lib/server/db/pglite-durable.js');
	const { drizzle } = await import('drizzle-orm/pglite');
	const { migrate } = await import('drizzle-orm/pglite/migrator');
	// Durable, as the server opens it: a migration is a commit like any other.
	const client = await openPgliteDir(dir);
	await migrate(drizzle({ client }), { migrationsFolder: folder });
	await client.close();
	console.log(`Migrated embedded PGlite database at ${dir}`);
}
