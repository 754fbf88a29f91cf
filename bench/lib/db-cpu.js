/**
 * CPU seconds of the PostgreSQL backends serving one database, read from /proc (the server runs
 * on this machine), so the database's share of a scenario is counted beside the server's.
 */
import { cpuSeconds } from './procstat.js';

/** A meter for `dbName` on the server at `baseUrl`; null for PGlite, whose CPU is the server process's own. */
export function dbCpuMeter(baseUrl, target, dbName) {
	if (!target.url) return null;
	// Backends come and go (pools reconnect): each keeps the last figure it was seen with.
	const seen = new Map();
	let sqlPromise;
	return {
		async sample() {
			sqlPromise ??= import('postgres').then(({ default: postgres }) => postgres(baseUrl, { max: 1, onnotice: () => {} }));
			const sql = await sqlPromise;
			const rows = await sql`select pid from pg_stat_activity where datname = ${dbName} and pid <> pg_backend_pid()`;
			for (const { pid } of rows) seen.set(pid, cpuSeconds(pid) || seen.get(pid) || 0);
			let total = 0;
			for (const value of seen.values()) total += value;
			return total;
		},
		async close() {
			if (sqlPromise) await (await sqlPromise).end();
		}
	};
}
