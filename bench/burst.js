/**
 * One chatty client: sends N frames at once over /ws, ROUNDS times, and prints per round the commit
 * batches they took (`duet_commit_batch_size_count` from /metrics) and the time to the last ack. One
 * client's sends are bound by commit latency when each commits alone; as one run they share batches.
 *
 *   node bench/burst.js [N=200] [ROUNDS=3]          (BENCH_APP_DIR=… measures another build)
 *
 * Needs a production build; BENCH_DATABASE_URL as for bench/run.js (a fresh database, dropped after).
 */
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import { createDatabase, dropDatabase, makePair, makeUser, openSql, seedUsers } from './lib/seed.js';
import { startDuet } from './lib/server.js';

const N = Number(process.argv[2] ?? 200);
const ROUNDS = Number(process.argv[3] ?? 3);
const BASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const TOKEN = 'burst-probe-metrics-token';
const env = { METRICS_TOKEN: TOKEN };

const name = `duet_burst_${Date.now()}`;
const url = await createDatabase(BASE_URL, name);
try {
	// The first start migrates; users are written with SQL while the server is down.
	await (await startDuet({ databaseUrl: url, env })).stop();
	const [a, b] = [makeUser('burst_a'), makeUser('burst_b')];
	const pair = makePair(a, b);
	const { hash } = await import('@node-rs/argon2');
	const sql = await openSql({ url });
	await seedUsers(sql, [a, b], [pair], await hash('burst password 1234'));
	await sql.close();
	const app = await startDuet({ databaseUrl: url, env });
	try {
		await rounds(app.origin, a, pair.id);
	} finally {
		await app.stop();
	}
} finally {
	await dropDatabase(BASE_URL, name);
}

async function rounds(origin, user, conversationId) {
	const batches = async () => {
		const text = await (await fetch(`${origin}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
		return Number(/^duet_commit_batch_size_count\S* (\d+)/m.exec(text)?.[1]);
	};
	const ws = new WebSocket(origin.replace(/^http/, 'ws') + '/ws', { headers: { cookie: user.cookie, origin }, perMessageDeflate: false });
	let onAck = () => {};
	await new Promise((resolve, reject) => {
		ws.on('message', (data) => {
			const frame = JSON.parse(data.toString());
			if (frame.type === 'ready') resolve();
			else if (frame.type === 'ack') onAck();
			else if (frame.type === 'error') reject(new Error(`send refused: ${frame.code}`));
		});
		ws.once('error', reject);
	});
	const clientId = randomUUID();
	let clientSeq = 0;
	for (let round = 0; round < ROUNDS; round++) {
		const before = await batches();
		const started = performance.now();
		let acked = 0;
		const done = new Promise((resolve) => (onAck = () => ++acked === N && resolve()));
		for (let i = 0; i < N; i++) {
			ws.send(JSON.stringify({ type: 'send', id: randomUUID(), conversationId, clientId, clientSeq: ++clientSeq, body: 'burst' }));
		}
		await done;
		const ms = performance.now() - started;
		console.log(
			JSON.stringify({ round, sends: N, batches: (await batches()) - before, ms: Math.round(ms), perSecond: Math.round((N / ms) * 1000) })
		);
	}
	ws.close();
}
