/**
 * Where the memory of an idle connection goes: starts the production build under the inspector on
 * a fresh PostgreSQL database, takes a heap snapshot (after a full GC) before and after opening N
 * idle signed-in WebSockets (or SSE streams), and prints the growth per connection by constructor,
 * with process.memoryUsage() and RSS beside it. A tool for finding the bytes; the figures that count
 * are `npm run bench -- --only=idle`'s, next to its bare baselines.
 *
 *   node bench/idle-heap.js [--kind=ws|sse] [--count=2000] [--top=30] [--save=after.heapsnapshot]
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { rssBytes } from './lib/procstat.js';
import { createDatabase, dropDatabase, makePair, makeUser, migrate, openSql, seedUsers } from './lib/seed.js';
import { ROOT, startDuet } from './lib/server.js';
import { forkChild, freePort, log, parseArgs } from './lib/util.js';

const args = parseArgs(process.argv.slice(2));
const kind = String(args.kind ?? 'ws');
const count = Number(args.count ?? 2000);
const top = Number(args.top ?? 30);
const BASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** A DevTools-protocol session on the server's inspector. */
async function inspector(port) {
	const [target] = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
	const ws = new WebSocket(target.webSocketDebuggerUrl, { perMessageDeflate: false, maxPayload: 2 ** 31 - 1 });
	await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
	let nextId = 1;
	const pending = new Map();
	let chunks = [];
	ws.on('message', (data) => {
		const message = JSON.parse(data.toString());
		if (message.method === 'HeapProfiler.addHeapSnapshotChunk') chunks.push(message.params.chunk);
		else if (message.id && pending.has(message.id)) {
			pending.get(message.id)(message);
			pending.delete(message.id);
		}
	});
	const call = (method, params = {}) =>
		new Promise((resolve, reject) => {
			const id = nextId++;
			pending.set(id, (m) => (m.error ? reject(new Error(`${method}: ${m.error.message}`)) : resolve(m.result)));
			ws.send(JSON.stringify({ id, method, params }));
		});
	return {
		async memoryUsage() {
			await call('HeapProfiler.collectGarbage');
			const { result } = await call('Runtime.evaluate', { expression: 'JSON.stringify(process.memoryUsage())', returnByValue: true });
			return JSON.parse(result.value);
		},
		async snapshot() {
			await call('HeapProfiler.collectGarbage');
			chunks = [];
			await call('HeapProfiler.takeHeapSnapshot', { reportProgress: false });
			const text = chunks.join('');
			chunks = [];
			return JSON.parse(text);
		},
		close: () => ws.close()
	};
}

/** Self size and count per "type:name" of a snapshot. */
function byConstructor(snapshot) {
	const {
		node_fields: fields,
		node_types: [types]
	} = snapshot.snapshot.meta;
	const width = fields.length;
	const [typeAt, nameAt, sizeAt] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f));
	const out = new Map();
	const { nodes, strings } = snapshot;
	for (let i = 0; i < nodes.length; i += width) {
		const type = types[nodes[i + typeAt]];
		const name = type === 'object' || type === 'closure' || type === 'native' ? strings[nodes[i + nameAt]] : `(${type})`;
		const key = `${type}:${name.slice(0, 60)}`;
		const entry = out.get(key) ?? { size: 0, count: 0 };
		entry.size += nodes[i + sizeAt];
		entry.count++;
		out.set(key, entry);
	}
	return out;
}

async function main() {
	const dbName = `duet_heap_${Date.now()}`;
	const url = await createDatabase(BASE_URL, dbName);
	const inspectPort = await freePort();
	let app;
	try {
		await migrate({ url });
		const users = Array.from({ length: 100 }, (_, i) => makeUser(`heap_${i}`));
		const pairs = Array.from({ length: 50 }, (_, i) => makePair(users[2 * i], users[2 * i + 1]));
		const sql = await openSql({ url });
		const { hash } = await import('@node-rs/argon2');
		await seedUsers(sql, users, pairs, await hash('heap password 1234'));
		await sql.close();
		app = await startDuet({ databaseUrl: url, nodeArgs: [`--inspect=127.0.0.1:${inspectPort}`] });
		const devtools = await inspector(inspectPort);
		// One connection first, so what is made once (the WebSocket server, the heartbeat) is not counted per connection.
		const child = forkChild(path.join(ROOT, 'bench/load/idle.js'));
		const cookies = users.map((u) => u.cookie);
		await child.call('open', { kind, origin: app.origin, cookies, count: 1, concurrency: 1 });
		const rss0 = rssBytes(app.pid);
		const mem0 = await devtools.memoryUsage();
		const before = byConstructor(await devtools.snapshot());
		const opened = await child.call('open', { kind, origin: app.origin, cookies, count, offset: 1, concurrency: 50 });
		log(`opened ${opened.opened} ${kind} connections (${opened.failed} failed${opened.firstError ? `: ${opened.firstError}` : ''})`);
		const mem1 = await devtools.memoryUsage();
		const rss1 = rssBytes(app.pid);
		const raw = await devtools.snapshot();
		if (args.save) writeFileSync(String(args.save), JSON.stringify(raw));
		const after = byConstructor(raw);
		const n = opened.opened;
		const rows = [];
		for (const [key, entry] of after) {
			const was = before.get(key) ?? { size: 0, count: 0 };
			rows.push({ key, bytes: (entry.size - was.size) / n, count: (entry.count - was.count) / n });
		}
		rows.sort((a, b) => b.bytes - a.bytes);
		const total = rows.reduce((a, r) => a + r.bytes, 0);
		const kib = (bytes) => (bytes / 1024).toFixed(2);
		console.log(`\nper ${kind} connection (${n}): RSS ${kib((rss1 - rss0) / n)} KiB; JS heap (snapshot self sizes) ${kib(total)} KiB`);
		for (const field of ['heapUsed', 'external', 'arrayBuffers']) console.log(`  ${field}: ${kib((mem1[field] - mem0[field]) / n)} KiB`);
		console.log(`\n${'bytes/conn'.padStart(10)} ${'objs/conn'.padStart(9)}  type:constructor`);
		for (const r of rows.slice(0, top)) console.log(`${r.bytes.toFixed(0).padStart(10)} ${r.count.toFixed(2).padStart(9)}  ${r.key}`);
		devtools.close();
		await child.call('close');
		await child.stop();
	} finally {
		await app?.stop();
		await dropDatabase(BASE_URL, dbName).catch((e) => log(`could not drop ${dbName}: ${e.message}`));
	}
}

main().catch((error) => {
	console.error(error);
	process.exitCode = 1;
});
