/**
 * Reads a V8 .cpuprofile (from `npm run bench -- --profile`, written to bench/profiles/) and
 * prints the functions with the most self time and the most inclusive time, so the top costs of
 * the server can be read without a browser's flame-graph viewer.
 *
 *   node bench/profile-top.js bench/profiles/CPU.*.cpuprofile [--top=40] [--filter=substring]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from './lib/util.js';

const files = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const args = parseArgs(process.argv.slice(2).filter((a) => a.startsWith('--')));
const top = Number(args.top ?? 40);

for (const file of files) {
	const profile = JSON.parse(readFileSync(file, 'utf8'));
	const byId = new Map(profile.nodes.map((n) => [n.id, n]));
	const parent = new Map();
	for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
	const selfTicks = new Map();
	for (const sample of profile.samples) selfTicks.set(sample, (selfTicks.get(sample) ?? 0) + 1);
	const total = profile.samples.length;
	const label = (n) => {
		const f = n.callFrame;
		const where = f.url ? `${f.url.replace(/^.*\/(node_modules\/|build\/|src\/)/, '$1')}:${f.lineNumber + 1}` : '';
		return `${f.functionName || '(anonymous)'} ${where}`.trim();
	};
	const self = new Map();
	const inclusive = new Map();
	for (const [id, ticks] of selfTicks) {
		const node = byId.get(id);
		const key = label(node);
		self.set(key, (self.get(key) ?? 0) + ticks);
		const seen = new Set();
		for (let at = id; at !== undefined; at = parent.get(at)) {
			const k = label(byId.get(at));
			if (seen.has(k)) continue;
			seen.add(k);
			inclusive.set(k, (inclusive.get(k) ?? 0) + ticks);
		}
	}
	const print = (title, map) => {
		console.log(`\n${title} (${file}, ${total} samples)`);
		const rows = [...map]
			.filter(([k]) => !args.filter || k.includes(args.filter))
			.sort((a, b) => b[1] - a[1])
			.slice(0, top);
		for (const [key, ticks] of rows) console.log(`${((ticks / total) * 100).toFixed(1).padStart(6)}%  ${key}`);
	};
	print('Self time', self);
	print('Inclusive time', inclusive);
	if (args.callers) {
		// Who calls the functions matching --callers (inclusive samples through each call path).
		const paths = new Map();
		for (const [id, ticks] of selfTicks) {
			const chain = [];
			for (let at = id; at !== undefined; at = parent.get(at)) chain.push(label(byId.get(at)));
			const hit = chain.findIndex((k) => k.includes(args.callers));
			if (hit === -1) continue;
			const key = chain.slice(hit, hit + Number(args.depth ?? 6)).join('  <-  ');
			paths.set(key, (paths.get(key) ?? 0) + ticks);
		}
		console.log(`\nCall paths into "${args.callers}"`);
		for (const [key, ticks] of [...paths].sort((a, b) => b[1] - a[1]).slice(0, 15))
			console.log(`${((ticks / total) * 100).toFixed(1).padStart(6)}%  ${key}`);
	}
}
