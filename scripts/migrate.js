/**
 * `npm run db:migrate`: applies drizzle/ to the database the app would use (DATABASE_URL, or
 * embedded PGlite at PGLITE_DIR). The server also does this at start-up; this is for operators
 * who prefer to migrate as a separate deploy step.
 */
import path from 'node:path';
import { read } from '../server/settings.js';

// The server's own declarations, so both read the same names with the same defaults.
// Behind a transaction-mode pooler, migrations go to PostgreSQL itself (DATABASE_DIRECT_URL).
const url = read(process.env, 'DATABASE_DIRECT_URL') ?? read(process.env, 'DATABASE_URL');
const folder = path.resolve(read(process.env, 'MIGRATIONS_DIR'));

if (url && /^postgres(ql)?:\/\//.test(url)) {
	const { default: postgres } = await import('postgres');
	const { drizzle } = await import('drizzle-orm/postgres-js');
	const { migrate } = await import('drizzle-orm/postgres-js/migrator');
	const client = postgres(url, { max: 1, onnotice: () => {} });
	await migrate(drizzle({ client }), { migrationsFolder: folder });
	await client.end();
	console.log('Migrated PostgreSQL database');
} else {
	const dir = read(process.env, 'PGLITE_DIR');
	const { openPgliteDir } = await import('../src/lib/server/db/pglite-durable.js');
	const { drizzle } = await import('drizzle-orm/pglite');
	const { migrate } = await import('drizzle-orm/pglite/migrator');
	// Durable, as the server opens it: a migration is a commit like any other.
	const client = await openPgliteDir(dir);
	await migrate(drizzle({ client }), { migrationsFolder: folder });
	await client.close();
	console.log(`Migrated embedded PGlite database at ${dir}`);
}
