/**
 * Compares result files (say a run of the previous build and one of this one), one column each,
 * through the ratios that hold on a noisy machine: each figure against the baselines of its own run.
 *
 *   node bench/compare.js [--labels=before,after] bench/results/<before>.json bench/results/<after>.json [more.json…]
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { saturation, uploadRatio } from './lib/report.js';
import { parseArgs } from './lib/util.js';

const files = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const args = parseArgs(process.argv.slice(2).filter((a) => a.startsWith('--')));
if (files.length < 2) {
	console.error('usage: node bench/compare.js [--labels=a,b,…] BEFORE.json AFTER.json [MORE.json…]');
	process.exit(2);
}
const labels = args.labels ? String(args.labels).split(',') : files.map((file) => path.basename(file, '.json'));
const runs = files.map((file) => JSON.parse(readFileSync(file, 'utf8')));

const f = (v, d = 2) => (v === undefined || v === null || !Number.isFinite(v) ? '–' : Number(v).toFixed(d));

function figures(run, engine) {
	const r = run.engines[engine];
	if (!r) return null;
	const insert = run.baselines.pgInsert?.[engine]?.perSecond;
	const relayAt = (rate) => run.baselines.wsRelay?.steps?.find((s) => s.rate === rate)?.e2e?.p99;
	const out = {};
	for (const kind of ['ws', 'sse']) {
		const k = r[kind];
		if (!k) continue;
		const sat = saturation(k);
		out[`${kind} saturation msg/s`] = sat?.achieved;
		out[`${kind} saturation ÷ bare INSERT loop`] = sat && insert ? sat.achieved / insert : null;
		for (const rate of [250, 500, 1000, 2000]) {
			const step = k.steps.find((s) => s.rate === rate);
			const relay = relayAt(rate);
			if (step?.e2e && relay && step.achieved >= 0.9 * rate) out[`${kind} p99 at ${rate}/s ÷ relay p99`] = step.e2e.p99 / relay;
			else if (step) out[`${kind} p99 at ${rate}/s ÷ relay p99`] = Infinity;
		}
		const cpu = k.steps.find((s) => s.rate === 1000)?.serverCpuPer1k ?? k.steps[0]?.serverCpuPer1k;
		out[`${kind} server CPU s per 1k msgs (at 1,000/s or the first step)`] = cpu;
	}
	const idle = run.baselines.idle;
	if (r.idle?.ws && idle?.ws) out['idle WS RSS/conn ÷ bare ws'] = r.idle.ws.perConnection / idle.ws.perConnection;
	if (r.idle?.sse && idle?.sse) out['idle SSE RSS/conn ÷ bare SSE'] = r.idle.sse.perConnection / idle.sse.perConnection;
	if (r.catchup?.ws) out['catch-up 10k events, WS (ms)'] = r.catchup.ws.ms;
	if (r.history?.page) out['history page p99 (ms)'] = r.history.page.p99;
	for (const scenario of ['one', 'concurrent', 'photos']) {
		const d = r.uploads?.duet?.[scenario];
		if (!d) continue;
		out[`uploads ${scenario} ÷ bare sink`] = uploadRatio(r.uploads, scenario);
		out[`uploads ${scenario} RSS above idle per upload (MiB)`] = d.perUpload / 1048576;
	}
	return out;
}

for (const engine of ['postgres', 'pglite']) {
	const columns = runs.map((run) => figures(run, engine));
	if (columns.every((c) => !c)) continue;
	console.log(`\n| ${engine} | ${labels.join(' | ')} |\n|---|${labels.map(() => '---:').join('|')}|`);
	for (const key of new Set(columns.flatMap((c) => Object.keys(c ?? {})))) {
		const show = (v) =>
			v === Infinity ? 'saturated' : f(v, key.includes('(ms)') || key.includes('msg/s') ? 0 : key.includes('CPU') ? 3 : 2);
		console.log(`| ${key} | ${columns.map((c) => show(c?.[key])).join(' | ')} |`);
	}
}
