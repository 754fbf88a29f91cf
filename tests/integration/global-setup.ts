/** Integration tests drive the production build; fail early, with a hint, when it is missing. */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import postgres from 'postgres';

// Each run names its databases with a prefix of its own, so the teardown of one run never drops
// the databases of another running at the same time on the same PostgreSQL.
const prefix = (process.env.DUET_TEST_DB_PREFIX ??= `duet_t_${randomBytes(3).toString('hex')}_`);

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
		const rows = await sql<{ datname: string }[]>`select datname from pg_database where starts_with(datname, ${prefix})`;
		for (const { datname } of rows) {
			await sql.unsafe(`drop database if exists "${datname}" with (force)`);
		}
	} finally {
		await sql.end();
	}
}
