/**
 * Attachments (PROTOCOL.md "Attachments") against the real server, on both engines: the upload's
 * statuses and limits, the type found in the bytes, images re-encoded without their metadata and
 * thumbnailed, who may download what and with which headers, Range, and the sweep.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import sharp from 'sharp';
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import postgres from 'postgres';
import {
	createPostgresDatabase,
	describeEngines,
	signedInClient,
	startServer,
	WsClient,
	type TestServer,
	signedInPair,
	pattern,
	type Person
} from './harness';

const MAX = 300 * 1024;

interface UploadOptions {
	name?: string;
	claimed?: string;
	headers?: Record<string, string>;
	fields?: [string, string][];
}

async function upload(origin: string, person: Person, conversationId: string | null, bytes: Uint8Array, options: UploadOptions = {}) {
	const form = new FormData();
	if (conversationId) form.append('conversationId', conversationId);
	for (const [name, value] of options.fields ?? []) form.append(name, value);
	form.append('file', new Blob([bytes as BlobPart], { type: options.claimed ?? 'application/octet-stream' }), options.name ?? 'file.bin');
	const response = await fetch(`${origin}/api/attachments`, {
		method: 'POST',
		headers: { origin, cookie: person.client.cookie!, ...options.headers },
		body: form
	});
	return { status: response.status, headers: response.headers, body: await response.json() };
}

async function download(origin: string, person: Person | null, path: string, headers: Record<string, string> = {}) {
	const response = await fetch(origin + path, { headers: { ...(person ? { cookie: person.client.cookie! } : {}), ...headers } });
	return { status: response.status, headers: response.headers, bytes: Buffer.from(await response.arrayBuffer()) };
}

const png = (width: number, height: number) =>
	sharp({ create: { width, height, channels: 3, background: { r: 10, g: 120, b: 200 } } })
		.png()
		.toBuffer();

describeEngines('attachments', (engine) => {
	let server: TestServer;
	let origin: string;
	beforeAll(async () => {
		server = await startServer({ engine, env: { MAX_ATTACHMENT_BYTES: String(MAX) } });
		origin = server.origin;
	});
	afterAll(async () => {
		await server.stop();
		expect(server.output()).not.toContain('Unexpected error');
	});

	test('an upload is the uploader’s only, until it is sent; then both members download the same bytes', async () => {
		const { alice, bob, conversationId } = await signedInPair(origin);
		const bytes = pattern(MAX);
		const res = await upload(origin, alice, conversationId, bytes, { name: 'report.pdf', claimed: 'application/pdf' });
		expect(res.status).toBe(201);
		const { attachment } = res.body;
		expect(attachment).toEqual({
			id: expect.any(String),
			name: 'report.pdf',
			type: 'application/octet-stream',
			size: MAX,
			width: null,
			height: null,
			url: `/api/attachments/${attachment.id}`,
			thumbnailUrl: null
		});
		const own = await download(origin, alice, attachment.url);
		expect(own.status).toBe(200);
		expect(own.bytes.equals(bytes)).toBe(true);
		expect(Object.fromEntries(own.headers)).toMatchObject({
			'content-type': 'application/octet-stream',
			'x-content-type-options': 'nosniff',
			'content-disposition': `attachment; filename="report.pdf"; filename*=UTF-8''report.pdf`,
			'content-length': String(MAX),
			'accept-ranges': 'bytes',
			'cache-control': 'private, no-cache',
			etag: `"${attachment.id}"`
		});
		expect((await download(origin, bob, attachment.url)).status).toBe(404);
		const outsider = await signedInClient(origin);
		expect((await download(origin, outsider, attachment.url)).status).toBe(404);
		expect((await download(origin, null, attachment.url)).status).toBe(401);
		expect((await download(origin, alice, attachment.url, { 'if-none-match': `"${attachment.id}"` })).status).toBe(304);
	});

	test('limits: exactly MAX_ATTACHMENT_BYTES passes, one more is 413; empty is 400; not a member is 404', async () => {
		const { alice, conversationId } = await signedInPair(origin);
		expect((await upload(origin, alice, conversationId, pattern(MAX))).status).toBe(201);
		const over = await upload(origin, alice, conversationId, pattern(MAX + 1));
		expect(over.status).toBe(413);
		expect(over.body.error.code).toBe('too_large');
		const empty = await upload(origin, alice, conversationId, new Uint8Array());
		expect(empty.status).toBe(400);
		expect(empty.body.error.code).toBe('bad_request');
		const outsider = await signedInClient(origin);
		expect((await upload(origin, outsider, conversationId, pattern(10))).status).toBe(404);
		expect((await upload(origin, alice, crypto.randomUUID(), pattern(10))).status).toBe(404);
		expect((await upload(origin, alice, null, pattern(10))).status).toBe(400);
	});

	test('a client that goes away mid-upload leaves no chunks behind, and the server carries on', async () => {
		const { alice, conversationId } = await signedInPair(origin);
		const boundary = 'x-boundary';
		const head = `--${boundary}\r\ncontent-disposition: form-data; name="conversationId"\r\n\r\n${conversationId}\r\n--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="cut.bin"\r\n\r\n`;
		const socket = net.connect(server.port, '127.0.0.1');
		await new Promise((resolve) => socket.once('connect', resolve));
		socket.write(
			`POST /api/attachments HTTP/1.1\r\nhost: 127.0.0.1\r\norigin: ${origin}\r\ncookie: ${alice.client.cookie}\r\n` +
				`content-type: multipart/form-data; boundary=${boundary}\r\ncontent-length: ${head.length + MAX}\r\n\r\n${head}`
		);
		await new Promise((resolve) => socket.write(pattern(100_000), resolve));
		socket.destroy();
		// The server still answers, and the half file's chunks are deleted (checked where the test can see the database).
		expect((await upload(origin, alice, conversationId, pattern(1000))).status).toBe(201);
		if (engine === 'postgres') {
			const sql = postgres(server.databaseUrl, { max: 1, onnotice: () => {} });
			try {
				const orphans = async () =>
					(
						await sql`select count(*)::int as n from blob_chunks c
							where not exists (select 1 from attachments a where c.key like a.id::text || '/%')`
					)[0].n;
				await expect.poll(orphans, { timeout: 10_000 }).toBe(0);
			} finally {
				await sql.end();
			}
		}
	});

	test('the edge: wrong content type 415, foreign Origin 403, no session 401, JSON errors', async () => {
		const { alice, conversationId } = await signedInPair(origin);
		const json = await fetch(`${origin}/api/attachments`, {
			method: 'POST',
			headers: { origin, cookie: alice.client.cookie!, 'content-type': 'application/json' },
			body: JSON.stringify({ conversationId })
		});
		expect(json.status).toBe(415);
		expect((await json.json()).error.code).toBe('unsupported_media_type');
		const foreign = await upload(origin, alice, conversationId, pattern(10), { headers: { origin: 'https://evil.example' } });
		expect(foreign.status).toBe(403);
		expect(foreign.body.error.code).toBe('forbidden');
		const anonymous = await fetch(`${origin}/api/attachments`, { method: 'POST', headers: { origin }, body: new FormData() });
		expect(anonymous.status).toBe(401);
		const twoFiles = new FormData();
		twoFiles.append('conversationId', conversationId);
		twoFiles.append('file', new Blob(['a']), 'a');
		twoFiles.append('file', new Blob(['b']), 'b');
		const two = await fetch(`${origin}/api/attachments`, {
			method: 'POST',
			headers: { origin, cookie: alice.client.cookie! },
			body: twoFiles
		});
		expect(two.status).toBe(400);
	});

	test('the type comes from the bytes: a PNG named .txt is an image, HTML and SVG are attachments', async () => {
		const { alice, conversationId } = await signedInPair(origin);
		const image = await upload(origin, alice, conversationId, await png(1600, 400), { name: 'notes.txt', claimed: 'text/plain' });
		expect(image.status).toBe(201);
		expect(image.body.attachment).toMatchObject({ type: 'image/png', width: 1600, height: 400, name: 'notes.txt' });
		const shown = await download(origin, alice, image.body.attachment.url);
		expect(shown.headers.get('content-type')).toBe('image/png');
		expect(shown.headers.get('content-disposition')).toBe('inline');
		expect((await sharp(shown.bytes).metadata()).format).toBe('png');
		const thumbnail = await download(origin, alice, image.body.attachment.thumbnailUrl);
		expect(thumbnail.status).toBe(200);
		expect(thumbnail.headers.get('content-type')).toBe('image/webp');
		const thumbMeta = await sharp(thumbnail.bytes).metadata();
		expect([thumbMeta.format, thumbMeta.width, thumbMeta.height]).toEqual(['webp', 800, 200]);

		const html = Buffer.from('<!doctype html><html><script>alert(document.cookie)</script></html>');
		const page = await upload(origin, alice, conversationId, html, { name: 'cat.png', claimed: 'image/png' });
		expect(page.status).toBe(201);
		expect(['text/html', 'application/octet-stream']).toContain(page.body.attachment.type);
		expect(page.body.attachment.thumbnailUrl).toBeNull();
		const got = await download(origin, alice, page.body.attachment.url);
		expect(got.headers.get('content-disposition')).toMatch(/^attachment; /);
		expect(got.headers.get('x-content-type-options')).toBe('nosniff');
		expect((await download(origin, alice, `${page.body.attachment.url}/thumbnail`)).status).toBe(404);

		const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>');
		const drawing = await upload(origin, alice, conversationId, svg, { name: 'x.svg', claimed: 'image/svg+xml' });
		expect(drawing.status).toBe(201);
		const drawn = await download(origin, alice, drawing.body.attachment.url);
		expect(drawn.headers.get('content-disposition')).toBe(`attachment; filename="x.svg"; filename*=UTF-8''x.svg`);
		expect(drawn.headers.get('content-type')).not.toBe('image/svg+xml');
	});

	test('GIF and WebP are images too; a file whose bytes say PNG but cannot be decoded is a plain download', async () => {
		const { alice, conversationId } = await signedInPair(origin);
		const base = sharp({ create: { width: 900, height: 1200, channels: 4, background: { r: 1, g: 2, b: 3, alpha: 1 } } });
		for (const [bytes, type] of [
			[await base.clone().gif().toBuffer(), 'image/gif'],
			[await base.clone().webp().toBuffer(), 'image/webp']
		] as const) {
			const res = await upload(origin, alice, conversationId, bytes);
			expect(res.status).toBe(201);
			expect(res.body.attachment).toMatchObject({ type, width: 900, height: 1200 });
			const got = await download(origin, alice, res.body.attachment.url);
			expect(got.headers.get('content-disposition')).toBe('inline');
			const thumbnail = await sharp((await download(origin, alice, res.body.attachment.thumbnailUrl)).bytes).metadata();
			expect([thumbnail.format, thumbnail.width, thumbnail.height]).toEqual(['webp', 600, 800]);
		}
		const whole = await png(400, 400);
		const truncated = whole.subarray(0, Math.floor(whole.length / 2));
		const res = await upload(origin, alice, conversationId, truncated, { name: 'broken.png', claimed: 'image/png' });
		expect(res.status).toBe(201);
		expect(res.body.attachment).toMatchObject({ type: 'application/octet-stream', width: null, height: null, thumbnailUrl: null });
		const got = await download(origin, alice, res.body.attachment.url);
		expect(got.bytes.equals(truncated)).toBe(true);
		expect(got.headers.get('content-disposition')).toMatch(/^attachment; /);
	});

	test('a JPEG’s EXIF and GPS are gone from what is served, and its orientation is applied', async () => {
		const { alice, conversationId } = await signedInPair(origin);
		const photo = await sharp({ create: { width: 300, height: 200, channels: 3, background: 'orange' } })
			.jpeg()
			.withMetadata({ orientation: 6 })
			.withExif({
				IFD0: { Copyright: 'Alice Example', Make: 'SecretCam' },
				IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '48/1 51/1 24/1', GPSLongitudeRef: 'E', GPSLongitude: '2/1 21/1 3/1' }
			})
			.toBuffer();
		expect((await sharp(photo).metadata()).exif).toBeDefined();
		expect(photo.includes('SecretCam')).toBe(true);
		const res = await upload(origin, alice, conversationId, photo, { name: 'me.jpg', claimed: 'image/jpeg' });
		expect(res.status).toBe(201);
		// Orientation 6 is a quarter turn: shown 200 × 300.
		expect(res.body.attachment).toMatchObject({ type: 'image/jpeg', width: 200, height: 300 });
		const served = await download(origin, alice, res.body.attachment.url);
		const metadata = await sharp(served.bytes).metadata();
		expect(metadata.exif).toBeUndefined();
		expect(metadata.xmp).toBeUndefined();
		expect([metadata.width, metadata.height]).toEqual([200, 300]);
		expect(served.bytes.includes('Exif')).toBe(false);
		expect(served.bytes.includes('SecretCam')).toBe(false);
		expect(Number(served.headers.get('content-length'))).toBe(res.body.attachment.size);
		const thumbnail = await download(origin, alice, res.body.attachment.thumbnailUrl);
		expect((await sharp(thumbnail.bytes).metadata()).exif).toBeUndefined();
	});

	test('Range: first bytes, open-ended, suffix; several or malformed get the whole file; past the end 416', async () => {
		const { alice, conversationId } = await signedInPair(origin);
		const bytes = pattern(MAX);
		const { url } = (await upload(origin, alice, conversationId, bytes)).body.attachment;
		const first = await download(origin, alice, url, { range: 'bytes=0-99' });
		expect(first.status).toBe(206);
		expect(first.headers.get('content-range')).toBe(`bytes 0-99/${MAX}`);
		expect(first.bytes.equals(bytes.subarray(0, 100))).toBe(true);
		// Across the store's 256 KiB chunks.
		const open = await download(origin, alice, url, { range: 'bytes=262000-' });
		expect(open.status).toBe(206);
		expect(open.headers.get('content-range')).toBe(`bytes 262000-${MAX - 1}/${MAX}`);
		expect(open.bytes.equals(bytes.subarray(262000))).toBe(true);
		const suffix = await download(origin, alice, url, { range: 'bytes=-500' });
		expect(suffix.status).toBe(206);
		expect(suffix.bytes.equals(bytes.subarray(MAX - 500))).toBe(true);
		for (const range of ['bytes=0-1,5-6', 'bytes=9-2', 'lines=1-2']) {
			const whole = await download(origin, alice, url, { range });
			expect(whole.status).toBe(200);
			expect(whole.bytes.length).toBe(MAX);
		}
		const past = await download(origin, alice, url, { range: `bytes=${MAX}-` });
		expect(past.status).toBe(416);
		expect(past.headers.get('content-range')).toBe(`bytes */${MAX}`);
		expect((await download(origin, alice, url, { range: 'bytes=0-9', 'if-range': '"other"' })).status).toBe(200);
	});
});

/** One client install of a person: consecutive clientSeqs under one clientId. */
function sender(person: Person, conversationId: string) {
	const clientId = randomUUID();
	let clientSeq = 0;
	return (body: string, attachments?: string[], id = randomUUID()) =>
		person.client.post('/api/messages', { id, conversationId, clientId, clientSeq: ++clientSeq, body, attachments });
}

describeEngines('attachments in messages', (engine) => {
	let server: TestServer;
	let origin: string;
	beforeAll(async () => {
		server = await startServer({ engine });
		origin = server.origin;
	});
	afterAll(async () => {
		await server.stop();
	});

	test('sent with an empty body, the message carries them everywhere it is shown; the peer downloads the same bytes', async () => {
		const { alice, bob, conversationId } = await signedInPair(origin);
		const ws = await WsClient.connect(origin, bob.client.cookie);
		const image = await png(1000, 500);
		const first = (await upload(origin, alice, conversationId, image, { name: 'a.png' })).body.attachment;
		const second = (await upload(origin, alice, conversationId, pattern(5000), { name: 'b.bin' })).body.attachment;
		const id = randomUUID();
		const sent = await sender(alice, conversationId)('  ', [second.id, first.id], id);
		expect(sent.status).toBe(200);
		const expected = [second, first];
		const live = await ws.waitFor((f) => f.type === 'message' && f.message.id === id);
		expect(live.message.attachments).toEqual(expected);
		expect(live.message.body).toBe('');
		const history = await bob.client.get(`/api/conversations/${conversationId}/messages`);
		expect(history.body.messages.at(-1).attachments).toEqual(expected);
		expect((await bob.client.get(`/api/messages/${id}`)).body.message.attachments).toEqual(expected);
		const listed = await bob.client.get('/api/conversations');
		expect(listed.body.conversations.find((c: any) => c.id === conversationId).lastMessage.attachments).toEqual(expected);
		const got = await download(origin, bob, first.url);
		expect(got.status).toBe(200);
		expect(Object.fromEntries(got.headers)).toMatchObject({
			'content-type': 'image/png',
			'content-disposition': 'inline',
			'x-content-type-options': 'nosniff'
		});
		expect(got.bytes.equals((await download(origin, alice, first.url)).bytes)).toBe(true);
		expect((await download(origin, bob, first.thumbnailUrl)).status).toBe(200);
		expect((await download(origin, bob, second.url)).bytes.equals(pattern(5000))).toBe(true);
		// Replayed from the start, the message still carries them.
		const replay = await WsClient.connect(origin, bob.client.cookie, { cursor: '0' });
		const replayed = await replay.waitFor((f) => f.type === 'message' && f.message.id === id);
		expect(replayed.message.attachments).toEqual(expected);
		// An edit's message_updated carries them too.
		expect((await alice.client.request('PATCH', `/api/messages/${id}`, { body: 'now with words' })).body.message.attachments).toEqual(
			expected
		);
		const updated = await ws.waitFor((f) => f.type === 'message_updated' && f.message.id === id);
		expect(updated.message.attachments).toEqual(expected);
		ws.close();
		replay.close();
	});

	test('a resend with the same attachments gets the same ack; with others 409', async () => {
		const { alice, conversationId } = await signedInPair(origin);
		const a = (await upload(origin, alice, conversationId, pattern(10))).body.attachment;
		const b = (await upload(origin, alice, conversationId, pattern(20))).body.attachment;
		const send = { id: randomUUID(), conversationId, clientId: randomUUID(), clientSeq: 1, body: 'x', attachments: [a.id] };
		const acked = await alice.client.post('/api/messages', send);
		expect(acked.status).toBe(200);
		expect(await alice.client.post('/api/messages', send)).toMatchObject({ status: 200, body: acked.body });
		expect((await alice.client.post('/api/messages', { ...send, attachments: [a.id, b.id] })).status).toBe(409);
		expect((await alice.client.post('/api/messages', { ...send, attachments: [] })).status).toBe(409);
	});

	test('a send may only take the sender’s own uploads to that conversation, not sent yet; else 400 and nothing stored', async () => {
		const { alice, bob, conversationId } = await signedInPair(origin);
		const other = await signedInPair(origin);
		const mine = (await upload(origin, alice, conversationId, pattern(10))).body.attachment;
		const bobs = (await upload(origin, bob, conversationId, pattern(10))).body.attachment;
		const elsewhere = (await upload(origin, other.alice, other.conversationId, pattern(10))).body.attachment;
		const send = sender(alice, conversationId);
		expect((await send('ok', [mine.id])).status).toBe(200);
		for (const attachments of [[bobs.id], [elsewhere.id], [mine.id], [randomUUID()]]) {
			const refused = await send('no', attachments);
			expect(refused.status).toBe(400);
			expect(refused.body.error.code).toBe('bad_request');
		}
		expect((await send('', [])).status).toBe(400);
		expect(
			(
				await send(
					'x',
					Array.from({ length: 11 }, () => randomUUID())
				)
			).status
		).toBe(400);
		const history = await alice.client.get(`/api/conversations/${conversationId}/messages`);
		expect(history.body.messages.map((m: any) => m.body)).toEqual(['ok']);
		// Bob's upload is still his own, unsent: he can still send it.
		expect((await sender(bob, conversationId)('mine', [bobs.id])).status).toBe(200);
	});

	test('deleting the message deletes its files', async () => {
		const { alice, bob, conversationId } = await signedInPair(origin);
		const file = (await upload(origin, alice, conversationId, await png(50, 50))).body.attachment;
		const id = randomUUID();
		await sender(alice, conversationId)('', [file.id], id);
		expect((await download(origin, bob, file.url)).status).toBe(200);
		const deleted = await alice.client.request('DELETE', `/api/messages/${id}`);
		expect(deleted.status).toBe(200);
		expect(deleted.body.message.attachments).toEqual([]);
		for (const person of [alice, bob]) {
			expect((await download(origin, person, file.url)).status).toBe(404);
			expect((await download(origin, person, file.thumbnailUrl)).status).toBe(404);
		}
		expect((await bob.client.get(`/api/messages/${id}`)).body.message.attachments).toEqual([]);
	});
});

describeEngines('attachments: the sweep', (engine) => {
	let server: TestServer;
	beforeAll(async () => {
		server = await startServer({ engine, env: { UNSENT_UPLOAD_MAX_AGE_MS: '300', ATTACHMENT_SWEEP_MS: '100' } });
	});
	afterAll(async () => {
		await server.stop();
	});

	test('an upload never sent is deleted once older than UNSENT_UPLOAD_MAX_AGE_MS', async () => {
		const { alice, conversationId } = await signedInPair(server.origin);
		const { url } = (await upload(server.origin, alice, conversationId, pattern(1000))).body.attachment;
		expect((await download(server.origin, alice, url)).status).toBe(200);
		await expect.poll(async () => (await download(server.origin, alice, url)).status, { timeout: 10_000, interval: 100 }).toBe(404);
	});
});

describe.skipIf(!process.env.TEST_DATABASE_URL)('attachments across instances [postgres]', () => {
	const engine = 'postgres';
	let servers: TestServer[];
	beforeAll(async () => {
		const databaseUrl = await createPostgresDatabase();
		servers = [await startServer({ engine, databaseUrl })];
		servers.push(await startServer({ engine, databaseUrl }));
	});
	afterAll(async () => {
		await Promise.all(servers.map((s) => s.stop()));
	});

	test('a file uploaded through one instance is served by the other', async () => {
		const [one, two] = servers;
		const { alice, bob, conversationId } = await signedInPair(one.origin);
		const bytes = pattern(600 * 1024);
		const file = (await upload(one.origin, alice, conversationId, bytes)).body.attachment;
		await sender(alice, conversationId)('', [file.id]);
		const got = await download(two.origin, bob, file.url, { range: 'bytes=300000-' });
		expect(got.status).toBe(206);
		expect(got.bytes.equals(bytes.subarray(300000))).toBe(true);
	});
});

describeEngines('attachments: rate and quota', (engine) => {
	let server: TestServer;
	beforeAll(async () => {
		server = await startServer({
			engine,
			env: { RATE_LIMIT: 'on', UPLOAD_BURST: '3', UPLOAD_RATE_PER_MINUTE: '1', UNSENT_UPLOAD_QUOTA_BYTES: '25000' }
		});
	});
	afterAll(async () => {
		await server.stop();
	});

	test('past the unsent quota an upload is 413; sending frees it; past the burst 429 with retry-after', async () => {
		const { alice, conversationId } = await signedInPair(server.origin);
		const first = await upload(server.origin, alice, conversationId, pattern(20000));
		expect(first.status).toBe(201);
		const over = await upload(server.origin, alice, conversationId, pattern(10000));
		expect(over.status).toBe(413);
		expect(over.body.error.code).toBe('too_large');
		expect((await sender(alice, conversationId)('', [first.body.attachment.id])).status).toBe(200);
		expect((await upload(server.origin, alice, conversationId, pattern(10000))).status).toBe(201);
		const limited = await upload(server.origin, alice, conversationId, pattern(10));
		expect(limited.status).toBe(429);
		expect(limited.body.error.code).toBe('rate_limited');
		expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
	});

	test('two sends racing for one upload: one takes it, the other gets 400', async () => {
		const { alice, conversationId } = await signedInPair(server.origin);
		const file = (await upload(server.origin, alice, conversationId, pattern(10))).body.attachment;
		const [a, b] = [sender(alice, conversationId), sender(alice, conversationId)];
		const results = await Promise.all([a('one', [file.id]), b('two', [file.id])]);
		expect(results.map((r) => r.status).sort()).toEqual([200, 400]);
	});
});
