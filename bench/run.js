/**
 * `npm run bench`: measures the production build of Duet on this machine against real PostgreSQL
 * and, in a second pass, embedded PGlite, with load-generator child processes over real sockets,
 * next to bare baselines measured in the same run (a `ws` relay with no auth and no database; a
 * bare one-row INSERT loop; a bare upload sink storing 256 KiB chunks, bench/lib/uploads.js; bare
 * one-statement edits, reactions and searches, bench/lib/operations.js).
 * The cluster scenario (several instances on one bus) is bench/cluster.js.
 * Writes bench/results/<timestamp>.json and bench/results/latest.md. With --only, the start-up
 * figures are the fresh start only (which migrates the database every pass needs).
 *
 *   node bench/run.js [--quick] [--engines=postgres,pglite,pglite-unsafe] [--only=ws,sse,idle,catchup,history,uploads,ops,startup,cluster]
 *                     [--profile] [--rates=250,500,...] [--pairs=N] [--keep] [--label=NAME]
 *
 * --pairs sets the load steps' pairs (users = 2 × pairs; default 500, 250 with --quick), so one
 * client's share of the rate can be made large (50 pairs) or small (500).
 *
 * `pglite` is the embedded default (durable: an fsync per commit); `pglite-unsafe` runs it with
 * PGLITE_UNSAFE_NO_FSYNC=1, to price durability. The PGlite bare loop runs both ways every time.
 *
 * BENCH_DATABASE_URL names the PostgreSQL server (default postgres://postgres@127.0.0.1:5432/postgres);
 * every pass creates a fresh database there and drops it afterwards (--keep keeps it).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { merge, summary } from './lib/hist.js';
import { cpuSeconds, machineBusy, machineSample, rssBytes, rssSampler } from './lib/procstat.js';
import { isClean, markdown } from './lib/report.js';
import { clusterScenario } from './cluster.js';
import { dbCpuMeter } from './lib/db-cpu.js';
import { createDatabase, dropDatabase, makePair, makeUser, migrate, openSql, seedHistory, seedUsers } from './lib/seed.js';
import { APP_DIR, ROOT, startDuet, startProcess } from './lib/server.js';
import { operationsScenario } from './lib/operations.js';
import { describeUpload, UPLOADS_FULL, UPLOADS_QUICK, uploadClient, uploadScenarios } from './lib/uploads.js';
import { forkChild, log, median, now, parseArgs, sleep } from './lib/util.js';

const args = parseArgs(process.argv.slice(2));
const quick = Boolean(args.quick);

const FULL = {
	rates: [250, 500, 1000, 2000, 4000, 6000, 8000, 12000, 16000],
	sseRates: [250, 500, 1000, 2000, 4000, 6000, 8000],
	stepMs: 8000,
	warmupMs: 3000,
	drainMs: 10_000,
	pairs: 500,
	loadChildren: 2,
	idleWs: 10_000,
	idleSse: 5_000,
	idleUsers: 250,
	idleWindowMs: 20_000,
	heartbeatMs: 10_000,
	catchupEvents: 10_000,
	repeats: 3,
	historyMessages: 100_000,
	historyRequests: 1000,
	ssrRequests: 200,
	bigDbMessages: 1_000_000,
	pgInsertMs: 10_000,
	uploads: UPLOADS_FULL,
	opsPairs: 16,
	opsMessages: 100,
	opsInFlight: 16,
	opsSearchInFlight: 4,
	opsMs: 10_000
};

const QUICK = {
	...FULL,
	rates: [250, 1000, 4000, 8000, 16000],
	sseRates: [250, 1000, 4000, 8000],
	stepMs: 3000,
	warmupMs: 2000,
	drainMs: 5000,
	pairs: 250,
	idleWs: 2000,
	idleSse: 1000,
	idleUsers: 100,
	idleWindowMs: 5000,
	heartbeatMs: 2500,
	repeats: 1,
	historyRequests: 300,
	ssrRequests: 50,
	bigDbMessages: 200_000,
	pgInsertMs: 4000,
	uploads: UPLOADS_QUICK,
	opsMs: 3000
};

const P = { ...(quick ? QUICK : FULL) };
if (args.rates) P.rates = P.sseRates = String(args.rates).split(',').map(Number);
if (args.pairs) P.pairs = Number(args.pairs);
const engines = String(args.engines ?? 'postgres,pglite').split(',');
const only = args.only ? new Set(String(args.only).split(',')) : null;
const wants = (scenario) => !only || only.has(scenario);
const BASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const nodeArgs = args.profile ? ['--cpu-prof', `--cpu-prof-dir=${path.join(ROOT, 'bench/profiles')}`] : [];
const SATURATED = (step) => step.achieved < 0.9 * step.rate || step.unacked > 0 || (step.e2e?.p99 ?? Infinity) > 2000;

const runStarted = now();
const stamp = new Date().toISOString().replace(/[:.]/g, '-').replace(/Z$/, '');
const busy0 = machineSample();

// ── build ───────────────────────────────────────────────────────────────────────────────────────

function newestMtime(dir) {
	let newest = 0;
	for (const entry of readdirSync(dir, { withFileTypes: true })) {
		const full = path.join(dir, entry.name);
		if (entry.isDirectory()) newest = Math.max(newest, newestMtime(full));
		else newest = Math.max(newest, statSync(full).mtimeMs);
	}
	return newest;
}

function buildIfNeeded() {
	const handler = path.join(APP_DIR, 'build/handler.js');
	const built = existsSync(handler) ? statSync(handler).mtimeMs : 0;
	const sources = Math.max(newestMtime(path.join(APP_DIR, 'src')), statSync(path.join(APP_DIR, 'package.json')).mtimeMs);
	if (built >= sources && !args.build) {
		log('production build is up to date');
		return;
	}
	log('building the production bundle (npm run build)…');
	const result = spawnSync('npm', ['run', 'build'], { cwd: APP_DIR, stdio: ['ignore', 'ignore', 'inherit'] });
	if (result.status !== 0) throw new Error('npm run build failed');
}

// ── helpers ─────────────────────────────────────────────────────────────────────────────────────

const passwordHash = await (async () => {
	const { hash } = await import('@node-rs/argon2');
	return hash('bench password 1234');
})();

function splitPairs(pairs, children) {
	return Array.from({ length: children }, (_, k) => {
		const mine = pairs.filter((_, i) => i % children === k);
		const users = mine.flatMap((p) => [
			{ id: p.a.id, cookie: p.a.cookie },
			{ id: p.b.id, cookie: p.b.cookie }
		]);
		return { users, pairs: mine.map((p, i) => [2 * i, 2 * i + 1, p.id]) };
	});
}

/** A set of load-generator children connected in `mode` to `origin`. */
async function loadGenerators(mode, origin, pairs) {
	const parts = splitPairs(pairs, P.loadChildren);
	const children = parts.map(() => forkChild(path.join(ROOT, 'bench/load/chat-load.js')));
	const connected = await Promise.all(children.map((c, k) => c.call('connect', { mode, origin, ...parts[k] })));
	log(
		`  ${mode}: ${connected.reduce((a, c) => a + c.opened, 0)} connections open in ${(Math.max(...connected.map((c) => c.ms)) / 1000).toFixed(1)} s`
	);
	return {
		async step(rate, durationMs, { pid, dbCpu, drainMs = P.drainMs } = {}) {
			const cpu0 = pid ? cpuSeconds(pid) : 0;
			const db0 = dbCpu ? await dbCpu.sample() : 0;
			const rss = pid ? rssSampler(pid) : null;
			const startAt = now() + 50;
			const results = await Promise.all(children.map((c) => c.call('run', { rate: rate / children.length, durationMs, drainMs, startAt })));
			const serverCpu = pid ? cpuSeconds(pid) - cpu0 : null;
			const dbCpuUsed = dbCpu ? (await dbCpu.sample()) - db0 : null;
			const sum = (key) => results.reduce((a, r) => a + r[key], 0);
			const errors = {};
			for (const r of results) for (const [code, count] of Object.entries(r.errors)) errors[code] = (errors[code] ?? 0) + count;
			const end = Math.max(...results.map((r) => Math.max(r.sendEnd, r.lastEventAt)));
			const delivered = sum('delivered');
			const step = {
				rate,
				durationMs,
				sent: sum('sent'),
				acked: sum('acked'),
				delivered,
				lost: sum('lost'),
				unacked: sum('unacked'),
				duplicates: sum('duplicates'),
				outOfOrder: sum('outOfOrder'),
				gaps: sum('gaps'),
				errors,
				achieved: delivered / ((end - startAt) / 1000),
				e2e: summary(merge(results.map((r) => r.e2e))),
				ack: summary(merge(results.map((r) => r.ack))),
				sendLag: summary(merge(results.map((r) => r.lag))),
				loadCpuSeconds: sum('cpuSeconds'),
				serverCpuSeconds: serverCpu,
				serverCpuPer1k: serverCpu !== null && delivered ? (serverCpu / delivered) * 1000 : null,
				dbCpuSeconds: dbCpuUsed,
				dbCpuPer1k: dbCpuUsed !== null && delivered ? (dbCpuUsed / delivered) * 1000 : null,
				serverRssPeak: rss ? rss.stop() : null
			};
			return step;
		},
		async close() {
			await Promise.all(children.map((c) => c.call('close').catch(() => {})));
			await Promise.all(children.map((c) => c.stop()));
		}
	};
}

const describeStep = (label, s) =>
	`  ${label} ${String(s.rate).padStart(5)}/s → ${s.achieved.toFixed(0).padStart(5)}/s  e2e p50 ${s.e2e?.p50 ?? '–'} p99 ${s.e2e?.p99 ?? '–'} max ${s.e2e?.max ?? '–'} ms` +
	`  ack p99 ${s.ack?.p99 ?? '–'}  lost ${s.lost} dup ${s.duplicates} ooo ${s.outOfOrder} unacked ${s.unacked} err ${JSON.stringify(s.errors)}` +
	(s.serverCpuPer1k !== null ? `  cpu ${s.serverCpuPer1k?.toFixed(3)} s/1k` : '') +
	`  gen lag p99 ${s.sendLag?.p99 ?? '–'} ms`;

// ── baseline (a): the bare ws relay, one step per offered rate, cached for both passes ──────────

const relay = { steps: [], server: null, load: null };

async function relayAt(rate, pairs) {
	const cached = relay.steps.find((s) => s.rate === rate);
	if (cached) return cached;
	if (!relay.server) {
		relay.server = await startProcess({ script: 'bench/baselines/ws-relay.js', readyPath: '/readyz', label: 'ws relay' });
		relay.load = await loadGenerators('bare', relay.server.origin, pairs);
		await relay.load.step(Math.max(250, (6 * pairs.length * 1000) / P.warmupMs), P.warmupMs);
	}
	const step = await relay.load.step(rate, P.stepMs, { pid: relay.server.pid });
	log(describeStep('relay', step));
	relay.steps.push(step);
	relay.steps.sort((a, b) => a.rate - b.rate);
	return step;
}

async function stopRelay() {
	await relay.load?.close();
	await relay.server?.stop();
	relay.server = relay.load = null;
}

// ── baseline (b): bare INSERT loop ──────────────────────────────────────────────────────────────

async function pgInsertBaseline(engine) {
	if (engine !== 'pglite') return insertLoop(engine);
	// Durable and unsynced back to back, so the price of the fsync per commit is read in one run.
	const durable = await insertLoop('pglite');
	const unsafe = await insertLoop('pglite-unsafe');
	log(`  PGlite bare loop durable ÷ unsynced: ${(durable.perSecond / unsafe.perSecond).toFixed(2)}× the rows/s`);
	return { ...durable, unsafe };
}

async function insertLoop(engine) {
	let target;
	let dbName;
	let dir;
	if (engine === 'postgres') {
		dbName = `duet_bench_${stamp.toLowerCase().replace(/-/g, '_')}_base`;
		target = { url: await createDatabase(BASE_URL, dbName) };
	} else {
		dir = mkdtempSync(path.join(os.tmpdir(), 'duet-bench-base-'));
		target = { dir, unsafeNoFsync: engine === 'pglite-unsafe' };
	}
	try {
		await migrate(target);
		const child = forkChild(path.join(ROOT, 'bench/baselines/pg-insert.js'));
		// Where the loop's CPU goes, to set beside the server's: the loop itself, and PostgreSQL's
		// backends for its database (PGlite runs inside the loop, so there the loop is all of it).
		const dbCpu = engine === 'postgres' ? dbCpuMeter(BASE_URL, target, dbName) : null;
		const loop0 = cpuSeconds(child.pid);
		const db0 = dbCpu ? await dbCpu.sample() : 0;
		// The loop closes its connections before it answers: read their CPU while they are alive.
		const sampling = dbCpu ? setInterval(() => void dbCpu.sample(), 500) : undefined;
		const running = child.call('run', { target, inFlight: 16, durationMs: P.pgInsertMs });
		let loopCpu = 0;
		const loopSampling = setInterval(() => (loopCpu = cpuSeconds(child.pid) - loop0), 200);
		const result = await running;
		clearInterval(sampling);
		clearInterval(loopSampling);
		const dbCpuUsed = dbCpu ? (await dbCpu.sample()) - db0 : null;
		await dbCpu?.close();
		await child.stop();
		const latency = summary(merge([result.latency]));
		const per1k = (seconds) => (seconds === null ? null : (seconds / result.inserted) * 1000);
		log(
			`  bare ${engine} INSERT loop: ${result.perSecond.toFixed(0)} rows/s at 16 in flight (p99 ${latency?.p99} ms); ` +
				`CPU s per 1k rows: loop ${per1k(loopCpu).toFixed(3)}, database ${dbCpuUsed === null ? '–' : per1k(dbCpuUsed).toFixed(3)}`
		);
		return { ...result, latency, loopCpuPer1k: per1k(loopCpu), dbCpuPer1k: per1k(dbCpuUsed) };
	} finally {
		if (dbName && !args.keep) await dropDatabase(BASE_URL, dbName);
		if (dir) rmSync(dir, { recursive: true, force: true });
	}
}

// ── uploads, next to baseline (c): the bare upload sink on a database of its own ──────────────

async function uploadsScenario(engine, start, pair) {
	log(`  uploads (Duet and the bare upload sink, alternately)`);
	let dbName;
	let dir;
	let sinkTarget;
	let env;
	if (engine === 'postgres') {
		dbName = `duet_bench_${stamp.toLowerCase().replace(/-/g, '_')}_upload`;
		sinkTarget = { url: await createDatabase(BASE_URL, dbName) };
		env = { DATABASE_URL: sinkTarget.url };
	} else {
		dir = mkdtempSync(path.join(os.tmpdir(), 'duet-bench-upload-'));
		sinkTarget = { dir, unsafeNoFsync: engine === 'pglite-unsafe' };
		env = { DATABASE_URL: '', PGLITE_DIR: dir, ...(sinkTarget.unsafeNoFsync ? { PGLITE_UNSAFE_NO_FSYNC: '1' } : {}) };
	}
	let app;
	let sink;
	let client;
	try {
		// The sink's database is made while Duet starts: a fresh PGlite takes seconds to initialise.
		// Every measured upload stays unsent: Duet's quota must hold them all.
		const [started, migrated] = await Promise.allSettled([
			start({ UNSENT_UPLOAD_QUOTA_BYTES: String(64 * 1024 ** 3) }),
			migrate(sinkTarget)
		]);
		app = started.value;
		if (started.status === 'rejected') throw started.reason;
		if (migrated.status === 'rejected') throw migrated.reason;
		sink = await startProcess({ script: 'bench/baselines/upload-sink.js', readyPath: '/readyz', env, label: 'upload sink' });
		client = uploadClient();
		const conversationId = pair.id;
		const duet = { origin: app.origin, path: '/api/attachments', cookie: pair.a.cookie, conversationId };
		const bare = { origin: sink.origin, path: '/upload', conversationId };
		const result = await uploadScenarios(
			client,
			[
				{ name: 'duet', pid: app.pid, file: duet, photo: duet },
				{ name: 'baseline', pid: sink.pid, file: bare, photo: { ...bare, path: '/photo' } }
			],
			P.uploads,
			(name, scenario, r) => log(describeUpload(name, scenario, r))
		);
		for (const scenario of ['one', 'concurrent', 'photos']) {
			const [d, b] = [result.duet[scenario], result.baseline[scenario]];
			const speed = scenario === 'photos' ? 'uploadsPerSecond' : 'mibPerSecond';
			log(`  ${scenario}: Duet ÷ baseline ${(d[speed] / b[speed]).toFixed(2)}× the ${scenario === 'photos' ? 'photos/s' : 'MiB/s'}`);
		}
		return result;
	} finally {
		await client?.stop();
		await sink?.stop();
		await app?.stop();
		if (dbName && !args.keep) await dropDatabase(BASE_URL, dbName).catch((e) => log(`could not drop ${dbName}: ${e.message}`));
		if (dir) rmSync(dir, { recursive: true, force: true });
	}
}

// ── one engine pass ─────────────────────────────────────────────────────────────────────────────

async function latencySteps(kind, app, pairs, rates, dbCpu) {
	const load = await loadGenerators(kind, app.origin, pairs);
	// Warm-up: every user sends a few messages, so per-client first-use work (the client's last
	// committed clientSeq, membership) is done before anything is measured; a slow server gets up
	// to a minute to clear it, so no backlog spills into the first measured step.
	await load.step(Math.max(250, (6 * pairs.length * 1000) / P.warmupMs), P.warmupMs, { drainMs: 60_000 });
	const steps = [];
	try {
		for (const rate of rates) {
			if (kind === 'ws' || !relay.steps.some((s) => s.rate === rate)) await relayAt(rate, pairs);
			const step = await load.step(rate, P.stepMs, { pid: app.pid, dbCpu });
			log(describeStep(kind.padEnd(5), step));
			steps.push(step);
			if (SATURATED(step)) break;
		}
	} finally {
		await load.close();
	}
	const clean = steps.filter(isClean);
	const saturation = clean.length ? clean.reduce((best, s) => (s.achieved > best.achieved ? s : best)) : null;
	return { pairs: pairs.length, steps, saturation: saturation && { rate: saturation.rate, achieved: saturation.achieved } };
}

async function idleScenario(kind, start, cookies, count, heartbeatMs) {
	const app = await start();
	try {
		await sleep(2000);
		const rss0 = rssBytes(app.pid);
		const perChild = 2500;
		const children = Array.from({ length: Math.ceil(count / perChild) }, () => forkChild(path.join(ROOT, 'bench/load/idle.js')));
		const t0 = now();
		const opened = await Promise.all(
			children.map((c, k) =>
				c.call('open', {
					kind,
					origin: app.origin,
					cookies,
					count: Math.min(perChild, count - k * perChild),
					offset: k * perChild,
					concurrency: 50
				})
			)
		);
		const openMs = now() - t0;
		const connections = opened.reduce((a, o) => a + o.opened, 0);
		const failed = opened.reduce((a, o) => a + o.failed, 0);
		if (failed) log(`  ${kind}: ${failed} connections failed: ${opened.find((o) => o.firstError)?.firstError}`);
		await sleep(3000);
		const cpu0 = cpuSeconds(app.pid);
		const windowMs = P.idleWindowMs;
		await sleep(windowMs);
		const cpu = cpuSeconds(app.pid) - cpu0;
		const rss1 = rssBytes(app.pid);
		const stats = await Promise.all(children.map((c) => c.call('stats')));
		await Promise.all(children.map((c) => c.call('close')));
		await Promise.all(children.map((c) => c.stop()));
		const result = {
			connections,
			failed,
			openMs,
			rssBefore: rss0,
			rssAfter: rss1,
			rssDelta: rss1 - rss0,
			perConnection: connections ? (rss1 - rss0) / connections : null,
			windowMs,
			heartbeatMs,
			cpuSeconds: cpu,
			cpuPercent: (cpu / (windowMs / 1000)) * 100,
			heartbeats: stats.reduce((a, s) => a + s.pings + s.keepalives, 0),
			closedEarly: stats.reduce((a, s) => a + s.closedEarly, 0)
		};
		log(
			`  idle ${kind}: ${connections} open in ${(openMs / 1000).toFixed(1)} s, RSS +${(result.rssDelta / 1048576).toFixed(0)} MiB = ${(result.perConnection / 1024).toFixed(1)} KiB/conn, idle CPU ${result.cpuPercent.toFixed(2)}%, ${result.heartbeats} heartbeats seen`
		);
		return result;
	} finally {
		await app.stop();
	}
}

async function enginePass(engine) {
	log(`── ${engine} pass ──`);
	const out = {};
	let dbName;
	let target;
	if (engine === 'postgres') {
		dbName = `duet_bench_${stamp.toLowerCase().replace(/-/g, '_')}`;
		target = { url: await createDatabase(BASE_URL, dbName) };
	} else {
		target = { dir: mkdtempSync(path.join(os.tmpdir(), 'duet-bench-pglite-')), unsafeNoFsync: engine === 'pglite-unsafe' };
	}
	const serverTarget = engine === 'postgres' ? { databaseUrl: target.url } : { databaseUrl: '', pgliteDir: target.dir };
	const engineEnv = target.unsafeNoFsync ? { PGLITE_UNSAFE_NO_FSYNC: '1' } : {};
	const start = (env = {}) => startDuet({ ...serverTarget, env: { ...engineEnv, ...env }, nodeArgs });
	const dbCpu = dbCpuMeter(BASE_URL, target, dbName) ?? undefined;
	try {
		// Start-up on a fresh database runs the migrations; then restarts on the empty database.
		const startup = { repeats: P.repeats };
		let app = await start();
		startup.fresh = app.readyMs;
		await app.stop();
		const emptyRuns = [];
		for (let i = 0; i < (wants('startup') ? P.repeats : 0); i++) {
			app = await start();
			emptyRuns.push(app.readyMs);
			await app.stop();
		}
		startup.empty = emptyRuns.length ? median(emptyRuns) : null;
		log(`  start-up: fresh ${startup.fresh.toFixed(0)} ms, empty ${startup.empty?.toFixed(0) ?? '(not measured)'} ms`);

		// Users and conversations are written with SQL while the server is down (PGlite is single-process).
		const users = (prefix, count) => Array.from({ length: count }, (_, i) => makeUser(`${prefix}${i}`));
		const pairUp = (list) => Array.from({ length: list.length / 2 }, (_, i) => makePair(list[2 * i], list[2 * i + 1]));
		const loadUsers = users('load_', 2 * P.pairs);
		const loadPairs = pairUp(loadUsers);
		const idleUsers = users('idle_', P.idleUsers);
		const idlePairs = pairUp(idleUsers);
		const [h1, h2, c1, c2] = users('probe_', 4);
		const historyPair = makePair(h1, h2);
		const catchupPair = makePair(c1, c2);
		const [u1, u2] = users('upload_', 2);
		const uploadPair = makePair(u1, u2);
		let sql = await openSql(target);
		await seedUsers(
			sql,
			[...loadUsers, ...idleUsers, h1, h2, c1, c2, u1, u2],
			[...loadPairs, ...idlePairs, historyPair, catchupPair, uploadPair],
			passwordHash
		);
		if (wants('history')) {
			log(`  seeding ${P.historyMessages} messages of history…`);
			await seedHistory(sql, historyPair, P.historyMessages, { readUpTo: P.historyMessages - 20 });
		}
		if (wants('catchup')) await seedHistory(sql, catchupPair, P.catchupEvents);
		await sql.close();

		const serving = ['ws', 'sse', 'catchup', 'history'].some(wants);
		if (serving) app = await start();
		if (wants('ws')) {
			log(`  WebSocket latency steps (${P.pairs} pairs)`);
			out.ws = await latencySteps('ws', app, loadPairs, P.rates, dbCpu);
		}
		if (wants('sse')) {
			log(`  SSE + POST latency steps (${P.pairs} pairs)`);
			out.sse = await latencySteps('sse', app, loadPairs, P.sseRates, dbCpu);
		}
		if (wants('catchup')) {
			const probe = forkChild(path.join(ROOT, 'bench/load/probe.js'));
			out.catchup = { events: P.catchupEvents };
			for (const transport of ['ws', 'sse']) {
				const runs = [];
				for (let i = 0; i < P.repeats; i++) {
					runs.push(
						await probe.call('catchup', { origin: app.origin, cookie: c1.cookie, cursor: '0', expect: P.catchupEvents, transport })
					);
				}
				const ms = median(runs.map((r) => r.ms));
				out.catchup[transport] = {
					runs: runs.length,
					ms,
					perSecond: (P.catchupEvents / ms) * 1000,
					firstEventMs: median(runs.map((r) => r.firstEventMs)),
					all: runs.map((r) => r.ms)
				};
				log(`  catch-up ${transport}: ${P.catchupEvents} events in ${ms.toFixed(0)} ms`);
			}
			await probe.stop();
		}
		if (wants('history')) {
			const probe = forkChild(path.join(ROOT, 'bench/load/probe.js'));
			const base = `/api/conversations/${historyPair.id}/messages`;
			const paths = [`${base}?limit=50`];
			for (let i = 0; i < 99; i++) paths.push(`${base}?limit=50&before=${51 + Math.floor(Math.random() * (P.historyMessages - 50))}`);
			const page = await probe.call('requests', { origin: app.origin, cookie: h1.cookie, paths, count: P.historyRequests });
			const ssr = await probe.call('requests', {
				origin: app.origin,
				cookie: h1.cookie,
				paths: [`/c/${historyPair.id}`],
				count: P.ssrRequests,
				warmup: 5
			});
			const home = await probe.call('requests', { origin: app.origin, cookie: h1.cookie, paths: ['/'], count: P.ssrRequests, warmup: 5 });
			await probe.stop();
			out.history = {
				messages: P.historyMessages,
				page: summary(merge([page.total])),
				pageStatuses: page.statuses,
				ssr: summary(merge([ssr.firstByte])),
				ssrStatuses: ssr.statuses,
				ssrBytes: ssr.meanBytes,
				home: summary(merge([home.firstByte])),
				homeStatuses: home.statuses
			};
			log(
				`  history page p50 ${out.history.page.p50} p99 ${out.history.page.p99} ms; SSR /c/<id> TTFB p50 ${out.history.ssr.p50} p99 ${out.history.ssr.p99} ms ${JSON.stringify(ssr.statuses)}`
			);
		}
		if (serving) await app.stop();

		if (wants('uploads')) out.uploads = await uploadsScenario(engine, start, uploadPair);

		if (wants('ops')) {
			log(`  edits, reactions and searches (Duet and the bare loop (d))`);
			const searcher = { user: h1, pair: historyPair };
			const seedSearch = !wants('history');
			out.ops = await operationsScenario({
				target,
				start,
				passwordHash,
				searcher,
				historyMessages: P.historyMessages,
				seedSearch,
				settings: P
			});
		}

		if (wants('idle') && (engine === 'postgres' || args['idle-all'])) {
			const hb = { WS_HEARTBEAT_MS: String(P.heartbeatMs), SSE_KEEPALIVE_MS: String(P.heartbeatMs) };
			const cookies = idleUsers.map((u) => u.cookie);
			out.idle = {};
			out.idle.ws = await idleScenario('ws', () => start(hb), cookies, P.idleWs, P.heartbeatMs);
			out.idle.sse = await idleScenario('sse', () => start(hb), cookies, P.idleSse, P.heartbeatMs);
		}

		if (wants('startup')) {
			sql = await openSql(target);
			const [{ count }] = await sql.rows('select count(*)::int as count from messages');
			const missing = P.bigDbMessages - Number(count);
			if (missing > 0) {
				log(`  seeding ${missing} more messages for the ${P.bigDbMessages}-message start-up…`);
				const [b1, b2] = users('big_', 2);
				const bigPair = makePair(b1, b2);
				await seedUsers(sql, [b1, b2], [bigPair], passwordHash);
				const t0 = now();
				await seedHistory(sql, bigPair, missing);
				log(`  seeded in ${((now() - t0) / 1000).toFixed(1)} s`);
			}
			const [{ count: total }] = await sql.rows('select count(*)::int as count from messages');
			if (engine === 'postgres') await sql.exec('checkpoint');
			await sql.close();
			const bigRuns = [];
			for (let i = 0; i < P.repeats; i++) {
				app = await start();
				bigRuns.push(app.readyMs);
				await app.stop();
			}
			startup.big = median(bigRuns);
			startup.bigMessages = Number(total);
			log(`  start-up with ${total} messages: ${startup.big.toFixed(0)} ms`);
		}
		out.startup = startup;
	} finally {
		await dbCpu?.close();
		if (dbName && !args.keep) await dropDatabase(BASE_URL, dbName).catch((e) => log(`could not drop ${dbName}: ${e.message}`));
		if (target.dir && !args.keep) rmSync(target.dir, { recursive: true, force: true });
	}
	return out;
}

async function idleBaselines() {
	const env = { WS_HEARTBEAT_MS: String(P.heartbeatMs), SSE_KEEPALIVE_MS: String(P.heartbeatMs) };
	return {
		ws: await idleScenario(
			'bare-ws',
			() => startProcess({ script: 'bench/baselines/ws-relay.js', readyPath: '/readyz', env, label: 'bare ws' }),
			[],
			P.idleWs,
			P.heartbeatMs
		),
		sse: await idleScenario(
			'bare-sse',
			() => startProcess({ script: 'bench/baselines/sse-server.js', readyPath: '/readyz', env, label: 'bare sse' }),
			[],
			P.idleSse,
			P.heartbeatMs
		)
	};
}

// ── main ────────────────────────────────────────────────────────────────────────────────────────

function machineInfo() {
	const info = {
		cpus: os.cpus().length,
		cpuModel: os.cpus()[0]?.model?.trim(),
		memGiB: os.totalmem() / 2 ** 30,
		kernel: os.release(),
		node: process.version
	};
	try {
		info.postgres = execFileSync('psql', [BASE_URL, '-Atc', 'show server_version'], { stdio: ['ignore', 'pipe', 'ignore'] })
			.toString()
			.trim()
			.replace(/^/, 'PostgreSQL ')
			.replace(/ \(.*$/, '');
	} catch {
		/* psql missing: leave it out */
	}
	try {
		info.pglite = JSON.parse(execFileSync('npm', ['ls', '@electric-sql/pglite', '--json'], { cwd: ROOT }).toString()).dependencies[
			'@electric-sql/pglite'
		].version;
	} catch {
		/* not critical */
	}
	return info;
}

function appRevision() {
	try {
		const rev = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: APP_DIR }).toString().trim();
		const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'server'], { cwd: APP_DIR }).toString().trim() !== '';
		return { dir: APP_DIR, revision: rev + (dirty ? '+local changes' : '') };
	} catch {
		return { dir: APP_DIR };
	}
}

async function main() {
	log(`Duet benchmark${quick ? ' (quick)' : ''}: engines ${engines.join(', ')}${only ? `, only ${[...only].join(', ')}` : ''}`);
	buildIfNeeded();
	const result = {
		meta: { startedAt: new Date().toISOString(), quick, machine: machineInfo(), settings: P, args, app: appRevision() },
		baselines: { pgInsert: {}, wsRelay: relay },
		engines: {}
	};
	try {
		// --only=cluster needs no engine pass (the cluster scenario brings its own databases).
		for (const engine of only?.size === 1 && only.has('cluster') ? [] : engines) {
			if (wants('ws') || wants('sse')) result.baselines.pgInsert[engine] = await pgInsertBaseline(engine);
			result.engines[engine] = await enginePass(engine);
		}
		if (wants('cluster'))
			result.cluster = await clusterScenario({ quick, baseUrl: BASE_URL, stamp, passwordHash, nodeArgs, keep: args.keep, args });
		if (wants('idle')) {
			log('── idle baselines ──');
			result.baselines.idle = await idleBaselines();
		}
	} finally {
		await stopRelay();
	}
	result.baselines.wsRelay = { steps: relay.steps };
	result.meta.durationSeconds = (now() - runStarted) / 1000;
	result.meta.machineBusy = machineBusy(busy0, machineSample());
	const dir = path.join(ROOT, 'bench/results');
	mkdirSync(dir, { recursive: true });
	// --label=before names a run of another build (BENCH_APP_DIR) without replacing latest.md.
	const partial = quick || only || args.rates;
	const name = `${stamp}${quick ? '-quick' : ''}${args.label ? `-${args.label}` : ''}`;
	writeFileSync(path.join(dir, `${name}.json`), JSON.stringify(result, null, '\t') + '\n');
	const md = markdown(result);
	writeFileSync(path.join(dir, partial ? 'latest-quick.md' : args.label ? `latest-${args.label}.md` : 'latest.md'), md);
	process.stdout.write(md + '\n');
	log(`wrote bench/results/${name}.json in ${(result.meta.durationSeconds / 60).toFixed(1)} min`);
}

main().catch((error) => {
	console.error(error);
	process.exitCode = 1;
});
