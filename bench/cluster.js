/**
 * The cluster scenario of `npm run bench` (`--only=cluster`): 1, 2 and 3 instances on one
 * PostgreSQL, on the LISTEN/NOTIFY bus and on the NATS bus, with the two users of every pair on
 * different instances (so every message crosses the bus), at one fixed offered rate below
 * saturation. Per instance it reads the CPU seconds per 1k messages of the whole cluster and the
 * bus packets received (duet_bus_lag_seconds_count); end to end p99 across instances. Each figure
 * is set against the single instance of the same bus, measured in the same run.
 */
import { randomUUID } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { dbCpuMeter } from './lib/db-cpu.js';
import { merge, summary } from './lib/hist.js';
import { cpuSeconds } from './lib/procstat.js';
import { createDatabase, dropDatabase, makePair, makeUser, migrate, openSql, seedUsers } from './lib/seed.js';
import { ROOT, startDuet } from './lib/server.js';
import { forkChild, log, now } from './lib/util.js';

/**
 * Below saturation on the 2-core machine these figures come from, where three instances, their
 * PostgreSQL, NATS and the load generators share the cores: at 250 msg/s two and three instances
 * were already saturated there (a message crossing instances costs about twice one that does not).
 */
export const CLUSTER_FULL = { instances: [1, 2, 3], buses: ['postgres', 'nats'], rate: 200, pairs: 300, stepMs: 10_000, warmupMs: 3000 };
export const CLUSTER_QUICK = { ...CLUSTER_FULL, rate: 100, pairs: 150, stepMs: 6000, warmupMs: 2000 };

const METRICS_TOKEN = 'bench-cluster-metrics-token';
const LOAD_CHILDREN = 2;

/** The local nats-server's pid, to read its CPU beside the instances' (undefined: not local or not found). */
function natsServerPid() {
	try {
		return Number(execFileSync('pgrep', ['-o', 'nats-server']).toString().trim()) || undefined;
	} catch {
		return undefined;
	}
}

/** What an instance has received from the others so far: bus packets, and hints for users here and elsewhere. */
async function busCounts(origin) {
	const res = await fetch(`${origin}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
	const lines = (await res.text()).split('\n');
	const value = (prefix) =>
		Number(
			lines
				.find((l) => l.startsWith(prefix))
				?.split(' ')
				.pop() ?? 0
		);
	return {
		packets: value('duet_bus_lag_seconds_count'),
		here: value('duet_bus_notes_received_total{for="here"}'),
		elsewhere: value('duet_bus_notes_received_total{for="elsewhere"}')
	};
}

/** Load-generator children; each user connects to the instance named by its `origin`. */
async function clusterLoad(pairs) {
	const parts = Array.from({ length: LOAD_CHILDREN }, (_, k) => {
		const mine = pairs.filter((_, i) => i % LOAD_CHILDREN === k);
		return {
			users: mine.flatMap((p) => [p.a, p.b].map((u) => ({ id: u.id, cookie: u.cookie, origin: u.origin }))),
			pairs: mine.map((p, i) => [2 * i, 2 * i + 1, p.id])
		};
	});
	const children = parts.map(() => forkChild(path.join(ROOT, 'bench/load/chat-load.js')));
	try {
		await Promise.all(children.map((c, k) => c.call('connect', { mode: 'ws', origin: pairs[0].a.origin, ...parts[k] })));
	} catch (error) {
		// Children left running would keep the whole run from exiting.
		await Promise.all(children.map((c) => c.stop()));
		throw error;
	}
	return {
		async step(rate, durationMs, drainMs) {
			const startAt = now() + 50;
			const results = await Promise.all(children.map((c) => c.call('run', { rate: rate / children.length, durationMs, drainMs, startAt })));
			const sum = (key) => results.reduce((a, r) => a + r[key], 0);
			const end = Math.max(...results.map((r) => Math.max(r.sendEnd, r.lastEventAt)));
			const errors = {};
			for (const r of results) for (const [code, count] of Object.entries(r.errors)) errors[code] = (errors[code] ?? 0) + count;
			return {
				sent: sum('sent'),
				delivered: sum('delivered'),
				lost: sum('lost'),
				unacked: sum('unacked'),
				duplicates: sum('duplicates'),
				outOfOrder: sum('outOfOrder'),
				errors,
				achieved: sum('delivered') / ((end - startAt) / 1000),
				e2e: summary(merge(results.map((r) => r.e2e)))
			};
		},
		async close() {
			await Promise.all(children.map((c) => c.call('close').catch(() => {})));
			await Promise.all(children.map((c) => c.stop()));
		}
	};
}

/** One configuration: `count` instances on `bus`, on a database of their own. */
async function measure({ bus, count, C, baseUrl, stamp, passwordHash, nodeArgs, keep, natsUrl }) {
	const dbName = `duet_bench_${stamp.toLowerCase().replace(/-/g, '_')}_cl_${bus}_${count}`;
	const target = { url: await createDatabase(baseUrl, dbName) };
	const instances = [];
	let load;
	const dbCpu = dbCpuMeter(baseUrl, target, dbName);
	try {
		await migrate(target);
		const users = Array.from({ length: 2 * C.pairs }, (_, i) => makeUser(`cl_${i}`));
		const pairs = Array.from({ length: C.pairs }, (_, i) => makePair(users[2 * i], users[2 * i + 1]));
		const sql = await openSql(target);
		await seedUsers(sql, users, pairs, passwordHash);
		await sql.close();
		const env = {
			METRICS_TOKEN,
			...(bus === 'nats' ? { BUS_URL: natsUrl, BUS_SUBJECT_PREFIX: `bench${randomUUID().slice(0, 8)}` } : {})
		};
		instances.push(...(await Promise.all(Array.from({ length: count }, () => startDuet({ databaseUrl: target.url, env, nodeArgs })))));
		// Pair k: one user on instance k, the other on the next one (the same one when alone).
		pairs.forEach((p, k) => {
			p.a.origin = instances[k % count].origin;
			p.b.origin = instances[(k + 1) % count].origin;
		});
		load = await clusterLoad(pairs);
		await load.step(Math.max(100, (4 * C.pairs * 1000) / C.warmupMs), C.warmupMs, 60_000);

		const nats = bus === 'nats' ? natsServerPid() : undefined;
		const cpu0 = instances.map((i) => cpuSeconds(i.pid));
		const bus0 = await Promise.all(instances.map((i) => busCounts(i.origin)));
		const db0 = await dbCpu.sample();
		const nats0 = nats ? cpuSeconds(nats) : 0;
		const step = await load.step(C.rate, C.stepMs, 10_000);
		const cpu = instances.map((i, k) => cpuSeconds(i.pid) - cpu0[k]);
		const bus1 = await Promise.all(instances.map((i) => busCounts(i.origin)));
		const delta = (key) => bus1.map((b, k) => b[key] - bus0[k][key]);
		const packets = delta('packets');
		const dbCpuUsed = (await dbCpu.sample()) - db0;
		const natsCpu = nats ? cpuSeconds(nats) - nats0 : null;
		const per1k = (seconds) => (step.delivered ? (seconds / step.delivered) * 1000 : null);
		const result = {
			bus,
			instances: count,
			rate: C.rate,
			pairs: C.pairs,
			...step,
			instanceCpuPer1k: cpu.map(per1k),
			meanInstanceCpuPer1k: per1k(cpu.reduce((a, b) => a + b, 0) / count),
			clusterCpuPer1k: per1k(cpu.reduce((a, b) => a + b, 0)),
			busPacketsPerInstance: packets,
			// Per 1k messages of the cluster: the hints each instance had to take, wanted or not.
			hintsHerePer1k: delta('here').map(per1k),
			hintsElsewherePer1k: delta('elsewhere').map(per1k),
			dbCpuPer1k: per1k(dbCpuUsed),
			natsCpuPer1k: natsCpu === null ? null : per1k(natsCpu)
		};
		log(
			`  cluster ${bus.padEnd(8)} ×${count}: ${result.achieved.toFixed(0)}/s e2e p99 ${step.e2e?.p99} ms lost ${step.lost} dup ${step.duplicates} ooo ${step.outOfOrder}; ` +
				`CPU s per 1k per instance ${result.instanceCpuPer1k.map((v) => v?.toFixed(3)).join(' / ')}, cluster ${result.clusterCpuPer1k?.toFixed(3)}, DB ${result.dbCpuPer1k?.toFixed(3)}` +
				(natsCpu === null ? '' : `, nats-server ${result.natsCpuPer1k?.toFixed(3)}`) +
				`; bus packets received ${packets.join(' / ')}, hints per 1k for users here ${result.hintsHerePer1k.map((v) => v?.toFixed(0)).join(' / ')}, elsewhere ${result.hintsElsewherePer1k.map((v) => v?.toFixed(0)).join(' / ')}`
		);
		return result;
	} finally {
		await load?.close();
		await Promise.all(instances.map((i) => i.stop()));
		await dbCpu.close();
		if (!keep) await dropDatabase(baseUrl, dbName).catch((e) => log(`could not drop ${dbName}: ${e.message}`));
	}
}

/** Every configuration, each bus's single instance first: the rows of the cluster table. */
export async function clusterScenario({ quick, baseUrl, stamp, passwordHash, nodeArgs = [], keep = false, args = {} }) {
	// --buses=nats and --instances=1,3 narrow the run (for a look at one configuration).
	const C = { ...(quick ? CLUSTER_QUICK : CLUSTER_FULL) };
	if (args.buses) C.buses = String(args.buses).split(',');
	if (args.instances) C.instances = String(args.instances).split(',').map(Number);
	if (args['cluster-rate']) C.rate = Number(args['cluster-rate']);
	const natsUrl = process.env.BENCH_NATS_URL ?? 'nats://127.0.0.1:4222';
	log(`── cluster: ${C.instances.join(', ')} instances on each bus, ${C.pairs} pairs across instances, ${C.rate} msg/s ──`);
	const rows = [];
	for (const bus of C.buses) {
		for (const count of C.instances) rows.push(await measure({ bus, count, C, baseUrl, stamp, passwordHash, nodeArgs, keep, natsUrl }));
	}
	return { settings: C, rows };
}

const n = (v, digits = 3) => (v === null || v === undefined || !Number.isFinite(v) ? '–' : Number(v).toFixed(digits));
const times = (v) => (v === null || v === undefined || !Number.isFinite(v) ? '–' : `${v.toFixed(2)}×`);

const hints = (r) =>
	r.hintsHerePer1k ? r.hintsHerePer1k.map((here, k) => `${n(here, 0)} / ${n(r.hintsElsewherePer1k[k], 0)}`).join(', ') : '–';

/** The cluster table of latest.md. */
export function clusterMarkdown(cluster) {
	const s = cluster.settings;
	const lines = [
		`### Cluster: instances on one PostgreSQL (${s.pairs} pairs, each pair's users on two different instances; ${s.rate} msg/s offered for ${s.stepMs / 1000} s)`,
		'',
		'CPU per 1k messages counts the messages of the whole cluster. "Bus cost per instance" is what spreading adds: (cluster CPU − the single instance\'s) ÷ instances.',
		'',
		'| bus | instances | achieved msg/s | e2e p50 | e2e p99 | p99 × single | lost / dup / ooo | CPU s per 1k per instance | mean per instance × single | bus cost per instance s per 1k | bus packets received per instance | hints received per 1k msgs per instance: for users here / elsewhere | DB CPU s per 1k | nats-server CPU s per 1k |',
		'|---|---:|---:|---:|---:|---:|---|---|---:|---:|---|---|---:|---:|'
	];
	for (const r of cluster.rows) {
		const single = cluster.rows.find((x) => x.bus === r.bus && x.instances === 1);
		const busCost = single && r.instances > 1 ? (r.clusterCpuPer1k - single.clusterCpuPer1k) / r.instances : null;
		lines.push(
			`| ${r.bus === 'nats' ? 'NATS' : 'LISTEN/NOTIFY'} | ${r.instances} | ${n(r.achieved, 0)} | ${n(r.e2e?.p50, 1)} | ${n(r.e2e?.p99, 1)} | ${
				single ? times(r.e2e?.p99 / single.e2e?.p99) : '–'
			} | ${r.lost} / ${r.duplicates} / ${r.outOfOrder} | ${r.instanceCpuPer1k.map((v) => n(v)).join(' / ')} | ${
				single ? times(r.meanInstanceCpuPer1k / single.meanInstanceCpuPer1k) : '–'
			} | ${busCost === null ? '–' : n(busCost)} | ${r.busPacketsPerInstance.join(' / ')} | ${hints(r)} | ${n(r.dbCpuPer1k)} | ${n(r.natsCpuPer1k)} |`
		);
	}
	return lines.join('\n');
}
