/**
 * The server's memory while it takes uploads: RSS before, and its peak (sampled every 50 ms)
 * while one 25 MiB file is uploaded, then 20 at once, then 20 photos at once (each re-encoded and
 * thumbnailed by sharp). The uploads stream from the socket into the database in 256 KiB chunks,
 * so the peak should stay near the baseline whatever the file size or count.
 *
 *   node bench/attachments-memory.js [--engine=postgres|pglite]
 *
 * Needs the production build (`npm run build`). On postgres it uses BENCH_DATABASE_URL (default
 * postgres://postgres@127.0.0.1:5432/postgres), in a fresh database that it drops afterwards.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { rssBytes, rssSampler } from './lib/procstat.js';
import { createDatabase, dropDatabase } from './lib/seed.js';
import { startDuet } from './lib/server.js';
import { parseArgs } from './lib/util.js';

const args = parseArgs(process.argv.slice(2));
const engine = args.engine ?? 'postgres';
const base = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const MiB = 1024 * 1024;

const dbName = `duet_att_${randomBytes(4).toString('hex')}`;
const pgliteDir = engine === 'pglite' ? mkdtempSync(path.join(os.tmpdir(), 'duet-att-')) : undefined;
let databaseUrl;
if (engine === 'postgres') {
	await createDatabase(base, dbName);
	const url = new URL(base);
	url.pathname = `/${dbName}`;
	databaseUrl = url.toString();
}
const server = await startDuet({ databaseUrl, pgliteDir, env: { UNSENT_UPLOAD_QUOTA_BYTES: String(2048 * MiB) } });
const { origin } = server;

async function signUp(username) {
	const res = await fetch(`${origin}/api/auth/register`, {
		method: 'POST',
		headers: { origin, 'content-type': 'application/json' },
		body: JSON.stringify({ username, password: 'correct horse battery' })
	});
	return res.headers.getSetCookie()[0].split(';')[0];
}

const suffix = randomBytes(3).toString('hex');
const cookie = await signUp(`att_a_${suffix}`);
await signUp(`att_b_${suffix}`);
const opened = await fetch(`${origin}/api/conversations`, {
	method: 'POST',
	headers: { origin, cookie, 'content-type': 'application/json' },
	body: JSON.stringify({ username: `att_b_${suffix}` })
});
const conversationId = (await opened.json()).conversation.id;

async function upload(bytes, name) {
	const form = new FormData();
	form.append('conversationId', conversationId);
	form.append('file', new Blob([bytes]), name);
	const res = await fetch(`${origin}/api/attachments`, { method: 'POST', headers: { origin, cookie }, body: form });
	if (res.status !== 201) throw new Error(`upload: ${res.status} ${await res.text()}`);
	return (await res.json()).attachment;
}

async function measure(label, run) {
	const before = rssBytes(server.pid);
	const sampler = rssSampler(server.pid, 50);
	const t0 = performance.now();
	await run();
	const ms = performance.now() - t0;
	const peak = sampler.stop();
	const line = `${label}: RSS ${(before / MiB).toFixed(0)} MiB before, peak ${(peak / MiB).toFixed(0)} MiB (+${((peak - before) / MiB).toFixed(0)}), ${(ms / 1000).toFixed(1)} s`;
	console.log(line);
}

const big = randomBytes(25 * MiB);
// A photo-sized JPEG: 4000 × 3000 of noise, a worst case for the encoder (several MiB).
const photo = await sharp(randomBytes(1000 * 750 * 3), { raw: { width: 1000, height: 750, channels: 3 } })
	.resize(4000, 3000, { kernel: 'nearest' })
	.jpeg({ quality: 95 })
	.toBuffer();

try {
	console.log(`engine ${engine}; photo ${(photo.length / MiB).toFixed(1)} MiB`);
	await measure('idle', async () => {});
	await measure('one 25 MiB file', () => upload(big, 'big.bin'));
	await measure('20 × 25 MiB at once', () => Promise.all(Array.from({ length: 20 }, (_, i) => upload(big, `big${i}.bin`))));
	await measure('20 photos (4000 × 3000 JPEG) at once', () =>
		Promise.all(Array.from({ length: 20 }, (_, i) => upload(photo, `p${i}.jpg`)))
	);
} finally {
	await server.stop();
	if (engine === 'postgres') await dropDatabase(base, dbName);
	if (pgliteDir) rmSync(pgliteDir, { recursive: true, force: true });
}
