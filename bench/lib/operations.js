/**
 * The operations rows (`--only=ops`): edits (`PATCH /api/messages/:id`), reactions (`PUT` then
 * `DELETE /api/messages/:id/reactions/:emoji`) and searches (`GET /api/search`) on a large history,
 * each in a closed loop for a fixed time, next to baseline (d) (bench/baselines/pg-ops.js): the
 * same work as bare one-statement transactions on the same engine and schema, on rows of their
 * own. On PostgreSQL each bare loop runs right before Duet's, with the server up and idle, so the
 * two see the same machine; PGlite takes one process at a time, so there the bare loops run first,
 * before the server starts. Searches run fewer at once: 16 searches of a word in every message of
 * 100,000 pass the statement timeout even bare.
 */
import path from 'node:path';
import { merge, summary } from './hist.js';
import { OPERATIONS } from './report.js';
import { makePair, makeUser, openSql, seedHistory, seedUsers } from './seed.js';
import { ROOT } from './server.js';
import { forkChild, log } from './util.js';

const quote = (s) => `'${String(s).replace(/'/g, "''")}'`;

/** Each pair's first user and the ids of the messages they sent (seedHistory alternates senders). */
async function sentBy(sql, pairs) {
	const rows = await sql.rows(
		`select id, sender_id from messages where conversation_id in (${pairs.map((p) => quote(p.id)).join(',')}) order by seq`
	);
	return pairs.map((p) => ({ user: p.a, messageIds: rows.filter((r) => r.sender_id === p.a.id).map((r) => r.id) }));
}

/** Queries a user would type, and the tsquery text chat/search.ts makes of them (each word a prefix). */
function searchQueries(kind, historyMessages) {
	if (kind === 'searchCommon') return [{ q: 'fox', tsquery: 'fox:*' }];
	// Seeded bodies read "Seeded message <seq>: …": a three-digit prefix matches about 111 of them.
	const top = Math.min(999, Math.max(100, Math.floor(historyMessages / 100)));
	return Array.from({ length: 100 }, (_, i) => {
		const prefix = 100 + ((i * 37) % (top - 99));
		return { q: `message ${prefix}`, tsquery: `message:* & ${prefix}:*` };
	});
}

/**
 * Runs every kind against the bare loop and then Duet. `searcher` is a user whose one conversation
 * holds `historyMessages` seeded messages (seeded here when `seedSearch`).
 */
export async function operationsScenario({ target, start, passwordHash, searcher, historyMessages, seedSearch, settings }) {
	const { opsPairs: pairCount, opsMessages, opsInFlight: inFlight, opsSearchInFlight: searchInFlight, opsMs: durationMs } = settings;
	const users = (prefix) => Array.from({ length: 2 * pairCount }, (_, i) => makeUser(`${prefix}${i}`));
	const pairUp = (list) => Array.from({ length: pairCount }, (_, i) => makePair(list[2 * i], list[2 * i + 1]));
	const barePairs = pairUp(users('opsb_'));
	const duetPairs = pairUp(users('opsd_'));
	const sql = await openSql(target);
	let bare;
	let duet;
	try {
		const all = [...barePairs, ...duetPairs];
		await seedUsers(
			sql,
			all.flatMap((p) => [p.a, p.b]),
			all,
			passwordHash
		);
		for (const pair of all) await seedHistory(sql, pair, opsMessages);
		if (seedSearch) {
			log(`  seeding ${historyMessages} messages to search…`);
			await seedHistory(sql, searcher.pair, historyMessages);
		}
		bare = await sentBy(sql, barePairs);
		duet = await sentBy(sql, duetPairs);
	} finally {
		await sql.close();
	}
	const workersFor = (kind, side) => {
		if (kind.startsWith('search')) {
			const queries = searchQueries(kind, historyMessages);
			return [
				{
					userId: searcher.user.id,
					cookie: searcher.user.cookie,
					queries: queries.map((q) => q.tsquery),
					paths: queries.map((q) => `/api/search?q=${encodeURIComponent(q.q)}`)
				}
			];
		}
		return side.map(({ user, messageIds }) => ({ userId: user.id, cookie: user.cookie, messageIds }));
	};
	const out = { inFlight, searchInFlight, durationMs, pairs: pairCount, historyMessages };
	const loopOf = (kind) => (kind.startsWith('search') ? 'search' : kind);
	const inFlightOf = (kind) => (kind.startsWith('search') ? searchInFlight : inFlight);
	const baseline = forkChild(path.join(ROOT, 'bench/baselines/pg-ops.js'));
	const runBare = async (kind) => {
		const job = { target, kind: loopOf(kind), workers: workersFor(kind, bare), inFlight: inFlightOf(kind), durationMs };
		const result = await baseline.call('run', job);
		out[kind] = { baseline: { ...result, latency: summary(merge([result.latency])) } };
	};
	const interleaved = Boolean(target.url);
	let app;
	let client;
	try {
		if (!interleaved) for (const kind of OPERATIONS) await runBare(kind);
		app = await start();
		client = forkChild(path.join(ROOT, 'bench/load/operations.js'));
		for (const kind of OPERATIONS) {
			if (interleaved) await runBare(kind);
			const job = { origin: app.origin, kind: loopOf(kind), workers: workersFor(kind, duet), inFlight: inFlightOf(kind), durationMs };
			const result = await client.call('run', job);
			const row = (out[kind].duet = { ...result, latency: summary(merge([result.latency])) });
			const b = out[kind].baseline;
			log(
				`  ${kind}: Duet ${row.perSecond.toFixed(0)}/s (p50 ${row.latency?.p50} p99 ${row.latency?.p99} ms, ${row.failed} failed ${JSON.stringify(row.statuses)}); ` +
					`bare ${b.perSecond.toFixed(0)}/s (p50 ${b.latency?.p50} p99 ${b.latency?.p99} ms)`
			);
		}
	} finally {
		await baseline.stop();
		await client?.stop();
		await app?.stop();
	}
	return out;
}
