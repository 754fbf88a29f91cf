/**
 * Turns a result JSON into the Markdown tables of bench/results/latest.md (and docs/performance.md): one row per load step, then the other scenarios, then the goals.
 */
import { clusterMarkdown } from '../cluster.js';

const n = (v, digits = 0) => (v === null || v === undefined || Number.isNaN(v) ? '–' : Number(v).toFixed(digits));
const ms = (v) =>
	v === null || v === undefined ? '–' : v < 10 ? Number(v).toFixed(2) : v < 100 ? Number(v).toFixed(1) : Number(v).toFixed(0);
const ratio = (v) => (v === null || v === undefined || !Number.isFinite(v) ? '–' : `${Number(v).toFixed(2)}×`);
const mib = (bytes) => n(bytes / 1048576, 0);
const kib = (bytes) => n(bytes / 1024, 1);

function stepTable(steps, { relay } = {}) {
	const lines = [
		'| offered msg/s | achieved msg/s | e2e p50 | e2e p99 | e2e p99.9 | e2e max | ack p99 | p99 × relay | lost / dup / ooo | errors | server CPU s per 1k msgs | DB CPU s per 1k | server RSS MiB |',
		'|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|'
	];
	for (const s of steps) {
		const relayP99 = relay?.find((r) => r.rate === s.rate)?.e2e?.p99;
		const errors = Object.values(s.errors ?? {}).reduce((a, b) => a + b, 0) + (s.unacked ?? 0);
		lines.push(
			`| ${s.rate} | ${n(s.achieved)} | ${ms(s.e2e?.p50)} | ${ms(s.e2e?.p99)} | ${ms(s.e2e?.p999)} | ${ms(s.e2e?.max)} | ${ms(s.ack?.p99)} | ${
				relayP99 && s.e2e ? ratio(s.e2e.p99 / relayP99) : '–'
			} | ${s.lost} / ${s.duplicates} / ${s.outOfOrder} | ${errors} | ${n(s.serverCpuPer1k, 3)} | ${s.dbCpuSeconds ? n(s.dbCpuPer1k, 3) : '–'} | ${mib(s.serverRssPeak)} |`
		);
	}
	return lines.join('\n');
}

function relayTable(steps) {
	const lines = [
		'| offered msg/s | achieved msg/s | e2e p50 | e2e p99 | e2e p99.9 | e2e max | relay CPU s per 1k msgs |',
		'|---:|---:|---:|---:|---:|---:|---:|'
	];
	for (const s of steps) {
		lines.push(
			`| ${s.rate} | ${n(s.achieved)} | ${ms(s.e2e?.p50)} | ${ms(s.e2e?.p99)} | ${ms(s.e2e?.p999)} | ${ms(s.e2e?.max)} | ${n(s.serverCpuPer1k, 3)} |`
		);
	}
	return lines.join('\n');
}

/** A step that lost, duplicated or reordered nothing (its throughput counts only what was acked and delivered). */
export const isClean = (s) => s.lost === 0 && s.duplicates === 0 && s.outOfOrder === 0;

/** The best throughput of a clean step, recomputed from the steps so older result files read the same. */
export function saturation(kind) {
	const clean = (kind?.steps ?? []).filter(isClean);
	if (!clean.length) return null;
	const best = clean.reduce((a, s) => (s.achieved > a.achieved ? s : a));
	return { rate: best.rate, achieved: best.achieved };
}

/** The operations rows (bench/lib/operations.js) in report order; the two searches differ in how many messages match. */
export const OPERATIONS = ['edit', 'reaction', 'searchRare', 'searchCommon'];

export const OPERATION_TITLES = {
	edit: 'Edit (`PATCH /api/messages/:id`)',
	reaction: 'Reaction, added then removed (`PUT`/`DELETE …/reactions/:emoji`)',
	searchRare: 'Search, two words matching ~110 messages (`GET /api/search`)',
	searchCommon: 'Search, one word matching every message'
};

const perSecond = (v) => n(v, v < 10 ? 1 : 0);

function operationsTable(ops) {
	const lines = [
		'| operation | Duet ops/s | p50 ms | p99 ms | failed | bare loop (d) ops/s | (d) p50 ms | (d) p99 ms | Duet ÷ (d) |',
		'|---|---:|---:|---:|---:|---:|---:|---:|---:|'
	];
	for (const kind of OPERATIONS) {
		const d = ops[kind]?.duet;
		const b = ops[kind]?.baseline;
		if (!d) continue;
		lines.push(
			`| ${OPERATION_TITLES[kind]} | ${perSecond(d.perSecond)} | ${ms(d.latency?.p50)} | ${ms(d.latency?.p99)} | ${d.failed} | ${b ? perSecond(b.perSecond) : '–'} | ${ms(b?.latency?.p50)} | ${ms(b?.latency?.p99)} | ${b ? ratio(d.perSecond / b.perSecond) : '–'} |`
		);
	}
	return lines.join('\n');
}

const ENGINE_TITLES = {
	postgres: 'PostgreSQL',
	pglite: 'PGlite (embedded, durable)',
	'pglite-unsafe': 'PGlite with PGLITE_UNSAFE_NO_FSYNC=1'
};
const LOOP_NAMES = { postgres: 'postgres.js', pglite: 'PGlite (durable)', 'pglite-unsafe': 'PGlite (PGLITE_UNSAFE_NO_FSYNC=1)' };

/** Duet's figure over the bare upload sink's (baseline c) for one upload scenario. */
export function uploadRatio(uploads, scenario) {
	const d = uploads?.duet?.[scenario];
	const b = uploads?.baseline?.[scenario];
	if (!d || !b) return null;
	return scenario === 'photos' ? d.uploadsPerSecond / b.uploadsPerSecond : d.mibPerSecond / b.mibPerSecond;
}

const uploadSize = (r) =>
	r.uploads === 1 ? `${mib(r.bytes)} MiB` : `${r.uploads} × ${n(r.bytes / r.uploads / 1048576, 1)} MiB on average`;

function uploadsTable(u) {
	const photoSize = u.photo ? `${n((u.photo.width * u.photo.height) / 1e6, 0)} MP JPEG, ${n(u.photoBytes / 1048576, 1)} MiB` : '';
	const rows = [
		['one', 'One file at a time', (r) => `${n(r.mibPerSecond, 1)} MiB/s`],
		['concurrent', 'Files at once', (r) => `${n(r.mibPerSecond, 1)} MiB/s`],
		['photos', 'Photos at once', (r) => `${n(r.uploadsPerSecond, 2)} photos/s`]
	];
	const lines = [
		'| scenario | Duet | bare sink (c) | Duet ÷ (c) | Duet RSS peak above idle | per upload in flight | (c) RSS above idle | Duet CPU ms per MiB |',
		'|---|---:|---:|---:|---:|---:|---:|---:|'
	];
	for (const [key, title, speed] of rows) {
		const d = u.duet?.[key];
		const b = u.baseline?.[key];
		if (!d) continue;
		lines.push(
			`| ${title}: ${key === 'photos' ? `${d.uploads} × ${photoSize}` : uploadSize(d)} | ${speed(d)} | ${b ? speed(b) : '–'} | ${ratio(uploadRatio(u, key))} | ${mib(d.rssAboveIdle)} MiB | ${n(d.perUpload / 1048576, 1)} MiB | ${b ? `${mib(b.rssAboveIdle)} MiB` : '–'} | ${n(d.serverCpuMsPerMiB, 0)} |`
		);
	}
	return lines.join('\n');
}

const check = (ok) => (ok === undefined || ok === null ? '–' : ok ? 'met' : 'not met');

export function goals(result) {
	const rows = [];
	for (const [engine, r] of Object.entries(result.engines)) {
		const baseline = result.baselines.pgInsert?.[engine];
		const sat = saturation(r.ws);
		if (sat && baseline) {
			const f = sat.achieved / baseline.perSecond;
			rows.push([
				engine,
				'WS saturation throughput vs bare insert loop (b), 16 in flight',
				`${n(sat.achieved)} vs ${n(baseline.perSecond)} msg/s = ${ratio(f)}`,
				'≥ 1.0×',
				check(f >= 1)
			]);
		}
		const unsafeSat = engine === 'pglite' ? saturation(result.engines['pglite-unsafe']?.ws) : null;
		if (sat && unsafeSat) {
			const f = sat.achieved / unsafeSat.achieved;
			rows.push([
				engine,
				'WS saturation, durable vs PGLITE_UNSAFE_NO_FSYNC=1',
				`${n(sat.achieved)} vs ${n(unsafeSat.achieved)} msg/s = ${ratio(f)}`,
				'(the price of durability)',
				'–'
			]);
		}
		const ssat = saturation(r.sse);
		if (ssat && baseline) {
			const f = ssat.achieved / baseline.perSecond;
			rows.push([engine, 'SSE+POST saturation throughput vs (b)', `${n(ssat.achieved)} msg/s = ${ratio(f)}`, '(no goal)', '–']);
		}
		// Issue 22's goals: PostgreSQL ≤ 10 / 20 ms, embedded PGlite ≤ 25 / 50 ms.
		const p99Goals = engine === 'postgres' ? { ws: 10, sse: 20 } : { ws: 25, sse: 50 };
		for (const [kind, limit] of Object.entries(p99Goals)) {
			const at1k = r[kind]?.steps?.find((s) => s.rate === 1000);
			if (at1k?.e2e) {
				const relay = result.baselines.wsRelay?.steps?.find((s) => s.rate === 1000)?.e2e?.p99;
				const clean = at1k.lost === 0 && at1k.duplicates === 0 && at1k.outOfOrder === 0;
				rows.push([
					engine,
					`${kind === 'ws' ? 'WebSocket' : 'SSE+POST'} p99 end-to-end at 1,000 msg/s`,
					`${ms(at1k.e2e.p99)} ms (${relay ? ratio(at1k.e2e.p99 / relay) : '–'} relay), lost/dup/ooo ${at1k.lost}/${at1k.duplicates}/${at1k.outOfOrder}`,
					`≤ ${limit} ms, zero loss`,
					check(at1k.e2e.p99 <= limit && clean)
				]);
			}
		}
		const at1k = r.ws?.steps?.find((s) => s.rate === 1000);
		if (engine !== 'postgres' && at1k?.serverRssPeak) {
			rows.push([
				engine,
				`Server RSS peak at 1,000 msg/s over WebSocket (${r.ws.pairs ?? '?'} pairs)`,
				`${mib(at1k.serverRssPeak)} MiB`,
				'≤ 250 MB with 50 pairs',
				r.ws.pairs === 50 ? check(at1k.serverRssPeak <= 250e6) : '–'
			]);
		}
		if (r.startup?.fresh) {
			rows.push([
				engine,
				'Cold start on a fresh database → /readyz',
				`${ms(r.startup.fresh)} ms`,
				engine === 'postgres' ? '(no goal)' : '≤ 2,000 ms',
				engine === 'postgres' ? '–' : check(r.startup.fresh <= 2000)
			]);
		}
		if (r.idle?.ws) {
			rows.push([
				engine,
				'Idle signed-in WebSocket, RSS per connection',
				`${kib(r.idle.ws.perConnection)} KiB`,
				'≤ 8 KB',
				check(r.idle.ws.perConnection <= 8000)
			]);
		}
		if (r.idle?.ws && result.baselines.idle?.ws) {
			const f = r.idle.ws.perConnection / result.baselines.idle.ws.perConnection;
			rows.push([
				engine,
				`Idle WebSocket RSS per connection (${r.idle.ws.connections})`,
				`${kib(r.idle.ws.perConnection)} KiB vs bare ${kib(result.baselines.idle.ws.perConnection)} KiB = ${ratio(f)}`,
				'≤ 2×',
				check(f <= 2)
			]);
			rows.push([
				engine,
				`Idle CPU with ${r.idle.ws.connections} WebSockets`,
				`${n(r.idle.ws.cpuPercent, 2)}% of one core`,
				'≤ 5%',
				check(r.idle.ws.cpuPercent <= 5)
			]);
		}
		if (r.idle?.sse && result.baselines.idle?.sse) {
			const f = r.idle.sse.perConnection / result.baselines.idle.sse.perConnection;
			rows.push([
				engine,
				`Idle SSE RSS per connection (${r.idle.sse.connections})`,
				`${kib(r.idle.sse.perConnection)} KiB vs bare ${kib(result.baselines.idle.sse.perConnection)} KiB = ${ratio(f)}`,
				'≤ 2×',
				check(f <= 2)
			]);
		}
		if (r.catchup?.ws) {
			rows.push([
				engine,
				`Catch-up of ${r.catchup.events} events over WebSocket`,
				`${ms(r.catchup.ws.ms)} ms (${n(r.catchup.ws.perSecond)} events/s)`,
				'≤ 2,000 ms',
				check(r.catchup.ws.ms <= 2000)
			]);
		}
		for (const [scenario, title] of [
			['one', (d) => `Upload throughput, one ${mib(d.bytes)} MiB file, vs bare sink (c)`],
			['concurrent', (d) => `Upload throughput, ${d.uploads} files at once, vs bare sink (c)`],
			['photos', (d) => `Photos processed, ${d.uploads} at once, vs bare sharp (c)`]
		]) {
			const d = r.uploads?.duet?.[scenario];
			const f = uploadRatio(r.uploads, scenario);
			if (d && f !== null) {
				const speed = scenario === 'photos' ? `${n(d.uploadsPerSecond, 2)} photos/s` : `${n(d.mibPerSecond, 1)} MiB/s`;
				rows.push([
					engine,
					title(d),
					`${speed} = ${ratio(f)}; RSS +${mib(d.rssAboveIdle)} MiB (${n(d.perUpload / 1048576, 1)} MiB per upload)`,
					'(no goal)',
					'–'
				]);
			}
		}
		if (r.history?.page) {
			rows.push([
				engine,
				`History page (50 of ${r.history.messages}) p99`,
				`${ms(r.history.page.p99)} ms (p50 ${ms(r.history.page.p50)})`,
				'≤ 10 ms',
				check(r.history.page.p99 <= 10)
			]);
		}
	}
	const lines = ['| engine | figure | measured | goal | |', '|---|---|---|---|---|'];
	for (const row of rows) lines.push(`| ${row.join(' | ')} |`);
	return lines.join('\n');
}

export function markdown(result) {
	const m = result.meta;
	const out = [];
	out.push(`# Duet benchmark${m.quick ? ' (quick mode)' : ''}`);
	out.push('');
	out.push(
		`Run ${m.startedAt}, ${n(m.durationSeconds / 60, 1)} min. Machine: ${m.machine.cpus} × ${m.machine.cpuModel}, ${n(m.machine.memGiB, 0)} GiB, ` +
			`Linux ${m.machine.kernel}, Node ${m.machine.node}, ${m.machine.postgres ?? 'PostgreSQL ?'}; PGlite ${m.machine.pglite ?? '?'}. ` +
			`Server, database and load generators share the machine (load generators: ${m.settings.loadChildren} processes). ` +
			`Machine busy during the run: ${n(m.machineBusy * 100, 0)}%.`
	);
	out.push('');
	out.push('## Goals');
	out.push('');
	out.push(goals(result));
	for (const [engine, r] of Object.entries(result.engines)) {
		out.push('');
		out.push(`## ${ENGINE_TITLES[engine] ?? engine}`);
		if (r.ws) {
			out.push('');
			out.push(
				`### WebSocket, open loop (${r.ws.pairs} pairs, ${n(result.meta.settings.stepMs / 1000)} s per step; latencies in ms from the scheduled send time)`
			);
			out.push('');
			out.push(stepTable(r.ws.steps, { relay: result.baselines.wsRelay?.steps }));
			const sat = saturation(r.ws);
			if (sat) out.push('', `Saturation throughput (acked and delivered, zero loss): **${n(sat.achieved)} msg/s** at ${sat.rate} offered.`);
		}
		if (r.sse) {
			out.push('');
			out.push(`### SSE + POST, open loop (${r.sse.pairs} pairs)`);
			out.push('');
			out.push(stepTable(r.sse.steps, { relay: result.baselines.wsRelay?.steps }));
			const sat = saturation(r.sse);
			if (sat) out.push('', `Saturation throughput (acked and delivered, zero loss): **${n(sat.achieved)} msg/s** at ${sat.rate} offered.`);
		}
		if (r.uploads?.duet) {
			const u = r.uploads;
			out.push('');
			out.push(
				`### Uploads (\`POST /api/attachments\`, multipart; alternating with the bare sink (c); idle RSS: Duet ${mib(u.duet.idleRss)} MiB, sink ${mib(u.baseline?.idleRss)} MiB)`
			);
			out.push('');
			out.push(uploadsTable(u));
		}
		if (r.ops) {
			out.push('');
			out.push(
				`### Edits, reactions and searches (closed loop, ${r.ops.inFlight} in flight, searches ${r.ops.searchInFlight ?? r.ops.inFlight}, ${n(r.ops.durationMs / 1000)} s each; searches over ${r.ops.historyMessages} messages; next to the bare loop (d))`
			);
			out.push('');
			out.push(operationsTable(r.ops));
		}
		const other = [];
		if (r.idle?.ws) {
			const i = r.idle.ws;
			other.push(
				`| Idle WebSocket | ${i.connections} open (${i.failed} failed) in ${n(i.openMs / 1000, 1)} s; RSS +${mib(i.rssDelta)} MiB = ${kib(i.perConnection)} KiB/connection; idle CPU ${n(i.cpuPercent, 2)}% of a core over ${n(i.windowMs / 1000)} s (heartbeat every ${n(i.heartbeatMs / 1000)} s) |`
			);
		}
		if (r.idle?.sse) {
			const i = r.idle.sse;
			other.push(
				`| Idle SSE | ${i.connections} open (${i.failed} failed) in ${n(i.openMs / 1000, 1)} s; RSS +${mib(i.rssDelta)} MiB = ${kib(i.perConnection)} KiB/connection; idle CPU ${n(i.cpuPercent, 2)}% of a core (keepalive every ${n(i.heartbeatMs / 1000)} s) |`
			);
		}
		if (r.catchup) {
			for (const t of ['ws', 'sse']) {
				const c = r.catchup[t];
				if (c)
					other.push(
						`| Catch-up, ${t === 'ws' ? 'WebSocket' : 'SSE'} | ${r.catchup.events} events from cursor 0: ${ms(c.ms)} ms (median of ${c.runs}), ${n(c.perSecond)} events/s; first event after ${ms(c.firstEventMs)} ms |`
					);
			}
		}
		if (r.history) {
			const h = r.history;
			other.push(
				`| History page | 50 messages of ${h.messages}: p50 ${ms(h.page.p50)} ms, p99 ${ms(h.page.p99)} ms, max ${ms(h.page.max)} ms (${h.page.count} requests) |`
			);
			if (h.ssr)
				other.push(`| SSR /c/<id> | time to first byte p50 ${ms(h.ssr.p50)} ms, p99 ${ms(h.ssr.p99)} ms (${h.ssr.count} requests) |`);
			if (h.home) other.push(`| SSR / | time to first byte p50 ${ms(h.home.p50)} ms, p99 ${ms(h.home.p99)} ms |`);
		}
		if (r.startup) {
			const s = r.startup;
			other.push(
				`| Start-up → /readyz | fresh database (runs migrations) ${ms(s.fresh)} ms; empty ${ms(s.empty)} ms; ${s.bigMessages ? `${s.bigMessages.toLocaleString('en')} messages ${ms(s.big)} ms` : ''} (median of ${s.repeats}) |`
			);
		}
		if (other.length) {
			out.push('');
			out.push('### Other scenarios');
			out.push('');
			out.push('| scenario | result |', '|---|---|', ...other);
		}
	}
	if (result.cluster) out.push('', '## Several instances', '', clusterMarkdown(result.cluster));
	out.push('');
	out.push('## Baselines (same run, same machine)');
	out.push('');
	for (const [engine, b] of Object.entries(result.baselines.pgInsert ?? {})) {
		const cpu =
			b.loopCpuPer1k === undefined
				? ''
				: ` CPU s per 1k rows: the loop ${n(b.loopCpuPer1k, 3)}${b.dbCpuPer1k === null || b.dbCpuPer1k === undefined ? ' (PGlite runs inside it)' : `, PostgreSQL ${n(b.dbCpuPer1k, 3)}`}.`;
		out.push(
			`- (b) bare ${LOOP_NAMES[engine] ?? engine} loop, one-row INSERT transactions into \`messages\`, ${b.inFlight} in flight: **${n(b.perSecond)} rows/s** (p99 ${ms(b.latency?.p99)} ms).${cpu}`
		);
		if (b.unsafe) {
			out.push(
				`- (b′) the same PGlite loop with PGLITE_UNSAFE_NO_FSYNC=1, right after: ${n(b.unsafe.perSecond)} rows/s (p99 ${ms(b.unsafe.latency?.p99)} ms); ` +
					`durability costs the bare loop ${ratio(b.perSecond / b.unsafe.perSecond)} of its rows/s.`
			);
		}
	}
	if (result.baselines.idle?.ws)
		out.push(
			`- Bare \`ws\` server, ${result.baselines.idle.ws.connections} idle sockets: ${kib(result.baselines.idle.ws.perConnection)} KiB/connection, idle CPU ${n(result.baselines.idle.ws.cpuPercent, 2)}%.`
		);
	if (result.baselines.idle?.sse)
		out.push(
			`- Bare node:http SSE, ${result.baselines.idle.sse.connections} idle streams: ${kib(result.baselines.idle.sse.perConnection)} KiB/connection.`
		);
	if (Object.values(result.engines).some((r) => r.uploads?.baseline))
		out.push(
			'- (c) bare node:http upload sink (`bench/baselines/upload-sink.js`), on a database of its own on the same engine: the raw body in 256 KiB `bytea` chunks, four per INSERT, as Duet stores them; for photos, sharp alone on the bytes (the same three passes, two images at a time). Figures in the Uploads tables.'
		);
	if (Object.values(result.engines).some((r) => r.ops))
		out.push(
			'- (d) bare loop (`bench/baselines/pg-ops.js`), same engine and schema, same number in flight: an edit is one `UPDATE messages` transaction, a reaction one `INSERT` into `message_reactions` and then one `DELETE`, a search the query of `chat/search.ts` alone (no reactions read, no HTTP). Figures in the operations tables.'
		);
	if (result.baselines.wsRelay?.steps?.length) {
		out.push('- (a) bare `ws` relay, no auth, no database, same load generator and offered loads:');
		out.push('');
		out.push(relayTable(result.baselines.wsRelay.steps));
	}
	out.push('');
	return out.join('\n');
}
