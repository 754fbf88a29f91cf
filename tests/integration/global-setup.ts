/** Integration tests drive the production build; fail early, with a hint, when it is missing. */
import { existsSync } from 'node:fs';
import postgres from 'postgres';

export async function setup() {
	if (!existsSync(`${process.env.BUILD_DIR ?? 'build'}/handler.js`)) {
		throw new Error('No production build: run `npm run build` first (npm test does this for you).');
	}
	if (!process.env.TEST_DATABASE_URL) {
		console.warn('\n⚠ TEST_DATABASE_URL is not set: PostgreSQL integration tests are SKIPPED (PGlite runs).\n');
	}
}

/** Drops the per-server databases the run created, so repeated runs do not pile them up. */
export async function teardown() {
	const url = process.env.TEST_DATABASE_URL;
	if (!url) return;
	const sql = postgres(url, { max: 1, onnotice: () => {} });
	try {
		const rows = await sql<{ datname: string }[]>`select datname from pg_database where datname like 'duet_t_%'`;
		for (const { datname } of rows) {
			await sql.unsafe(`drop database if exists "${datname}" with (force)`);
		}
	} finally {
		await sql.end();
	}
}
