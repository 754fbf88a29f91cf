/**
 * The server's memory while it takes uploads, alone (no baseline, no report): RSS idle, and its
 * peak while one 25 MiB file is uploaded, then 20 files of 25 MiB at once, then 20 photos at once
 * (each re-encoded and thumbnailed by sharp). The scenarios are bench/lib/uploads.js, which
 * `npm run bench -- --only=uploads` runs too (there with 1–5 MiB files at once, next to a bare
 * baseline). The uploads stream from the socket into the database in 256 KiB chunks, so the peak
 * should stay near the idle figure whatever the file size or count.
 *
 *   node bench/attachments-memory.js [--engine=postgres|pglite] [--quick]
 *
 * Needs the production build (`npm run build`). On postgres it uses BENCH_DATABASE_URL (default
 * postgres://postgres@127.0.0.1:5432/postgres), in a fresh database that it drops afterwards.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createDatabase, dropDatabase } from './lib/seed.js';
import { startDuet } from './lib/server.js';
import { describeUpload, MiB, UPLOADS_FULL, UPLOADS_QUICK, uploadClient, uploadScenarios } from './lib/uploads.js';
import { parseArgs } from './lib/util.js';

const args = parseArgs(process.argv.slice(2));
const engine = args.engine ?? 'postgres';
const base = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const settings = args.quick
	? { ...UPLOADS_QUICK, concurrentMinBytes: 5 * MiB, concurrentMaxBytes: 5 * MiB }
	: { ...UPLOADS_FULL, bigRepeats: 1, rounds: 1, concurrentMinBytes: 25 * MiB, concurrentMaxBytes: 25 * MiB };

const dbName = `duet_att_${randomBytes(4).toString('hex')}`;
const pgliteDir = engine === 'pglite' ? mkdtempSync(path.join(os.tmpdir(), 'duet-att-')) : undefined;
const databaseUrl = engine === 'postgres' ? await createDatabase(base, dbName) : undefined;
const server = await startDuet({ databaseUrl, pgliteDir, env: { UNSENT_UPLOAD_QUOTA_BYTES: String(64 * 1024 * MiB) } });
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

const client = uploadClient();
try {
	const target = { origin, path: '/api/attachments', cookie, conversationId };
	const result = await uploadScenarios(
		client,
		[{ name: 'duet', pid: server.pid, file: target, photo: target }],
		settings,
		(name, scenario, r) => console.log(describeUpload(name, scenario, r))
	);
	console.log(
		`engine ${engine}; idle RSS ${(result.duet.idleRss / MiB).toFixed(0)} MiB; photo ${(result.photoBytes / MiB).toFixed(1)} MiB`
	);
} finally {
	await client.stop();
	await server.stop();
	if (engine === 'postgres') await dropDatabase(base, dbName);
	if (pgliteDir) rmSync(pgliteDir, { recursive: true, force: true });
}
