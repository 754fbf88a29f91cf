/**
 * Baseline (b): the database's own limit here. A bare loop (postgres.js, or PGlite for the embedded
 * pass) inserting one `messages` row per statement, each its own transaction with
 * synchronous_commit as configured, 16 in flight, into the app's real schema (same columns,
 * indexes and foreign keys, created by the app's migrations). PGlite is opened as the app opens it:
 * durable, or unsynced when `target.unsafeNoFsync` (PGLITE_UNSAFE_NO_FSYNC=1) is set.
 */
import { randomUUID } from 'node:crypto';
import { encode, newHist, recordMs } from '../lib/hist.js';
import { now, serve } from '../lib/util.js';

const BODY = 'Benchmark message: the quick brown fox jumps over the lazy dog. '.repeat(2).slice(0, 100);

async function connect(target, inFlight) {
	if (target.url) {
		const { default: postgres } = await import('postgres');
		const sql = postgres(target.url, { max: inFlight, onnotice: () => {} });
		return { query: (text, params) => sql.unsafe(text, params, { prepare: true }), close: () => sql.end() };
	}
	const { openPgliteDir } = await import('../../src/lib/server/db/pglite-durable.js');
	const db = await openPgliteDir(target.dir, { unsafeNoFsync: target.unsafeNoFsync });
	return { query: (text, params) => db.query(text, params), close: () => db.close() };
}

serve({
	async run({ target, inFlight = 16, durationMs }) {
		const db = await connect(target, inFlight);
		const a = randomUUID();
		const b = randomUUID();
		const conversation = randomUUID();
		await db.query(`insert into users (id, username, password_hash) values ($1, $2, 'x'), ($3, $4, 'x')`, [
			a,
			`base_${a.slice(0, 8)}`,
			b,
			`base_${b.slice(0, 8)}`
		]);
		await db.query(`insert into conversations (id, pair_key) values ($1, $2)`, [conversation, `${a}:${b}`]);
		const client = randomUUID();
		const latency = newHist();
		let seq = 0;
		let done = 0;
		const warmupEnd = now() + Math.min(2000, durationMs / 5);
		const insert = async () => {
			const n = ++seq;
			const t = now();
			await db.query(
				`insert into messages (id, conversation_id, seq, sender_id, client_id, client_seq, body, created_at)
				 values ($1, $2, $3, $4, $5, $6, $7, $8)`,
				[randomUUID(), conversation, n, a, client, n, BODY, new Date().toISOString()]
			);
			return t;
		};
		// Warm up (connections, plans) before the timed window.
		await Promise.all(
			Array.from({ length: inFlight }, async () => {
				while (now() < warmupEnd) await insert();
			})
		);
		const start = now();
		const end = start + durationMs;
		await Promise.all(
			Array.from({ length: inFlight }, async () => {
				while (now() < end) {
					const t = await insert();
					recordMs(latency, now() - t);
					done++;
				}
			})
		);
		const seconds = (now() - start) / 1000;
		await db.close();
		// `inserted` counts the warm-up too: the CPU the parent reads covers the whole run.
		return { rows: done, inserted: seq, seconds, perSecond: done / seconds, inFlight, latency: encode(latency) };
	}
});
