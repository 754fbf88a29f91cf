/**
 * Resumable uploads (docs/protocol.md "Resumable uploads") against the real server, on both
 * engines: create, append in pieces, resume after a request cut off mid-body, the offset rules,
 * who may see an upload, images processed as a multipart upload's, the size and header limits,
 * and the sweep of uploads never finished, multipart ones cut off by a SIGKILL included.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import sharp from 'sharp';
import net from 'node:net';
import postgres from 'postgres';
import {
	createPostgresDatabase,
	describeEngines,
	freePort,
	signedInClient,
	startServer,
	type TestServer,
	signedInPair,
	pattern,
	type Person
} from './harness';
import { chunked, rawRequest } from './raw-http';

const CHUNK = 256 * 1024;
const MAX = 2 * 1024 * 1024;
const OFFSET_TYPE = 'application/offset+octet-stream';

function create(person: Person, body: unknown) {
	return person.client.request('POST', '/api/attachments/uploads', body);
}

function patch(person: Person, id: string, offset: number | string, bytes: Uint8Array, headers: Record<string, string> = {}) {
	return person.client.request('PATCH', `/api/attachments/uploads/${id}`, undefined, {
		headers: { 'content-type': OFFSET_TYPE, 'upload-offset': String(offset), ...headers },
		raw: bytes
	});
}

async function download(origin: string, person: Person, url: string) {
	const response = await fetch(origin + url, { headers: { cookie: person.client.cookie! } });
	return { status: response.status, bytes: Buffer.from(await response.arrayBuffer()) };
}

/** A PATCH whose connection is cut after `sent` of the body's `declared` bytes. */
async function cutPatch(port: number, origin: string, person: Person, id: string, offset: number, declared: number, sent: Buffer) {
	const socket = net.connect(port, '127.0.0.1');
	await new Promise((resolve) => socket.once('connect', resolve));
	socket.write(
		`PATCH /api/attachments/uploads/${id} HTTP/1.1\r\nhost: 127.0.0.1\r\norigin: ${origin}\r\ncookie: ${person.client.cookie}\r\n` +
			`content-type: ${OFFSET_TYPE}\r\nupload-offset: ${offset}\r\ncontent-length: ${declared}\r\n\r\n`
	);
	await new Promise((resolve) => socket.write(sent, resolve));
	socket.destroy();
}

describeEngines('resumable uploads', (engine) => {
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

	test('created, appended in pieces (whole chunks kept until the end), then an attachment like a multipart one', async () => {
		const { alice, bob, conversationId } = await signedInPair(origin);
		const bytes = pattern(700 * 1024);
		const created = await create(alice, { conversationId, name: 'big.bin', size: bytes.length });
		expect(created.status).toBe(201);
		const { id } = created.body.upload;
		expect(created.body.upload).toEqual({ id, offset: 0, size: bytes.length });
		// Not servable, not sendable while under way.
		expect((await download(origin, alice, `/api/attachments/${id}`)).status).toBe(404);

		const early = await alice.client.post('/api/messages', {
			id: crypto.randomUUID(),
			conversationId,
			clientId: crypto.randomUUID(),
			clientSeq: 1,
			body: 'too soon',
			attachments: [id]
		});
		expect(early.status).toBe(400);

		const first = await patch(alice, id, 0, bytes.subarray(0, 300 * 1024));
		expect(first.status).toBe(200);
		expect(first.body.upload).toEqual({ id, offset: CHUNK, size: bytes.length });
		expect(first.headers.get('upload-offset')).toBe(String(CHUNK));
		expect((await alice.client.get(`/api/attachments/uploads/${id}`)).body.upload.offset).toBe(CHUNK);

		const last = await patch(alice, id, CHUNK, bytes.subarray(CHUNK));
		expect(last.status).toBe(201);
		expect(last.body.attachment).toMatchObject({ id, name: 'big.bin', type: 'application/octet-stream', size: bytes.length });
		expect((await download(origin, alice, last.body.attachment.url)).bytes.equals(bytes)).toBe(true);
		// A client that lost that answer finds the attachment where it asks for the offset.
		const status = await alice.client.get(`/api/attachments/uploads/${id}`);
		expect(status.body).toEqual({ upload: { id, offset: bytes.length, size: bytes.length }, attachment: last.body.attachment });

		const sent = await alice.client.post('/api/messages', {
			id: crypto.randomUUID(),
			conversationId,
			clientId: crypto.randomUUID(),
			clientSeq: 2,
			body: '',
			attachments: [id]
		});
		expect(sent.status).toBe(200);
		expect((await download(origin, bob, last.body.attachment.url)).bytes.equals(bytes)).toBe(true);
	});

	test('a PATCH cut off mid-body keeps whole chunks only; the upload resumes from there and ends byte for byte', async () => {
		const { alice, conversationId } = await signedInPair(origin);
		const bytes = pattern(1200 * 1024);
		const { id } = (await create(alice, { conversationId, name: 'cut.bin', size: bytes.length })).body.upload;
		const sent = 600 * 1024;
		await cutPatch(server.port, origin, alice, id, 0, bytes.length, bytes.subarray(0, sent));
		// Every byte sent reaches the server before the connection's end does: two whole chunks are what it keeps.
		const kept = Math.floor(sent / CHUNK) * CHUNK;
		await expect
			.poll(async () => (await alice.client.get(`/api/attachments/uploads/${id}`)).body.upload.offset, { timeout: 10_000, interval: 50 })
			.toBe(kept);

		const stale = await patch(alice, id, 0, bytes);
		expect(stale.status).toBe(409);
		expect(stale.body.error.code).toBe('conflict');
		expect(stale.body.upload).toEqual({ id, offset: kept, size: bytes.length });
		// Too long to read and drop: the connection ends after the answer, and the answer says so.
		expect(stale.headers.get('connection')).toBe('close');

		const rest = await patch(alice, id, kept, bytes.subarray(kept));
		expect(rest.status).toBe(201);
		expect((await download(origin, alice, rest.body.attachment.url)).bytes.equals(bytes)).toBe(true);
		// Finished: nothing more can be appended.
		expect((await patch(alice, id, bytes.length, Buffer.alloc(1))).status).toBe(409);
	});

	test('refused PATCHes leave no connection a client would reuse into a reset, whatever their length', async () => {
		const { alice, conversationId } = await signedInPair(origin);
		const bytes = pattern(1200 * 1024);
		const { id } = (await create(alice, { conversationId, name: 'again.bin', size: bytes.length })).body.upload;
		// Each refused at once (wrong offset), its body unread: dropped where short, else the connection closed.
		for (let round = 0; round < 40; round++) {
			const body = round % 2 ? bytes : bytes.subarray(0, 1000);
			const refused = await patch(alice, id, 7, body);
			expect(refused.status).toBe(409);
			expect(refused.headers.get('connection')).toBe(round % 2 ? 'close' : 'keep-alive');
			expect((await alice.client.get(`/api/attachments/uploads/${id}`)).body.upload.offset).toBe(0);
		}
	});

	test('a multipart upload whose file comes before its conversationId still works (its row waits for the field)', async () => {
		const { alice, conversationId } = await signedInPair(origin);
		const form = new FormData();
		form.append('file', new Blob([pattern(1000)]), 'late.bin');
		form.append('conversationId', conversationId);
		const res = await fetch(`${origin}/api/attachments`, { method: 'POST', headers: { origin, cookie: alice.client.cookie! }, body: form });
		expect(res.status).toBe(201);
		const { attachment } = await res.json();
		expect((await download(origin, alice, attachment.url)).bytes.equals(pattern(1000))).toBe(true);
	});

	test('only the uploader sees or appends to an upload: the peer and a stranger get 404', async () => {
		const { alice, bob, conversationId } = await signedInPair(origin);
		const stranger = await signedInClient(origin);
		expect((await create(stranger, { conversationId, name: 'x', size: 10 })).status).toBe(404);
		expect((await create(alice, { conversationId: crypto.randomUUID(), name: 'x', size: 10 })).status).toBe(404);
		const { id } = (await create(alice, { conversationId, name: 'x', size: 10 })).body.upload;
		for (const person of [bob, stranger]) {
			expect((await person.client.get(`/api/attachments/uploads/${id}`)).status).toBe(404);
			const refused = await patch(person, id, 0, pattern(10));
			expect(refused.status).toBe(404);
			expect(refused.body.error.code).toBe('not_found');
		}
		expect((await alice.client.get(`/api/attachments/uploads/${id}`)).body.upload.offset).toBe(0);
		expect((await alice.client.get('/api/attachments/uploads/not-a-uuid')).status).toBe(404);
	});

	test('an image finished in pieces is re-encoded without its EXIF and gets its thumbnail', async () => {
		const { alice, conversationId } = await signedInPair(origin);
		const photo = await sharp({ create: { width: 1200, height: 900, channels: 3, background: 'orange' } })
			.jpeg({ quality: 100 })
			.withExif({ IFD0: { Make: 'SecretCam' } })
			.toBuffer();
		expect(photo.includes('SecretCam')).toBe(true);
		const { id } = (await create(alice, { conversationId, name: 'me.jpg', size: photo.length })).body.upload;
		const split = Math.min(CHUNK, Math.floor(photo.length / 2));
		let offset = 0;
		if (photo.length > CHUNK) offset = (await patch(alice, id, 0, photo.subarray(0, split))).body.upload.offset;
		const done = await patch(alice, id, offset, photo.subarray(offset));
		expect(done.status).toBe(201);
		expect(done.body.attachment).toMatchObject({
			type: 'image/jpeg',
			width: 1200,
			height: 900,
			thumbnailUrl: `/api/attachments/${id}/thumbnail`
		});
		const served = await download(origin, alice, done.body.attachment.url);
		expect(served.bytes.includes('SecretCam')).toBe(false);
		expect((await sharp(served.bytes).metadata()).exif).toBeUndefined();
		const thumbnail = await download(origin, alice, done.body.attachment.thumbnailUrl);
		expect((await sharp(thumbnail.bytes).metadata()).format).toBe('webp');
	});

	test('bytes past the size are refused and none of them stored; the declared size keeps the limits', async () => {
		const { alice, conversationId } = await signedInPair(origin);
		const bytes = pattern(300 * 1024);
		const { id } = (await create(alice, { conversationId, name: 'x.bin', size: bytes.length })).body.upload;
		const declared = await patch(alice, id, 0, Buffer.concat([bytes, Buffer.alloc(10)]));
		expect(declared.status).toBe(413);
		expect(declared.body.error.code).toBe('too_large');
		// Chunked, so only the bytes themselves can show it: what the server kept stops short of the size.
		const streamed = await rawRequest(server.port, {
			method: 'PATCH',
			path: `/api/attachments/uploads/${id}`,
			headers: [
				['origin', origin],
				['cookie', alice.client.cookie!],
				['content-type', OFFSET_TYPE],
				['upload-offset', '0'],
				['transfer-encoding', 'chunked']
			],
			body: chunked(Buffer.concat([bytes, Buffer.alloc(10)]), 64 * 1024)
		});
		expect(streamed.status).toBe(413);
		const offset = (await alice.client.get(`/api/attachments/uploads/${id}`)).body.upload.offset;
		expect(offset % CHUNK).toBe(0);
		expect(offset).toBeLessThan(bytes.length);
		const done = await patch(alice, id, offset, bytes.subarray(offset));
		expect(done.status).toBe(201);
		expect((await download(origin, alice, done.body.attachment.url)).bytes.equals(bytes)).toBe(true);

		for (const [size, status] of [
			[0, 400],
			[-1, 400],
			[1.5, 400],
			['10', 400],
			[MAX + 1, 413],
			[2 ** 53, 400]
		] as const) {
			const res = await create(alice, { conversationId, name: 'x', size });
			expect([size, res.status, res.body.error?.code]).toEqual([size, status, status === 413 ? 'too_large' : 'bad_request']);
		}
	});

	test('hostile headers: Upload-Offset that is not a plain safe integer 400, wrong type 415, cross-site 403, no session 401', async () => {
		const { alice, conversationId } = await signedInPair(origin);
		const { id } = (await create(alice, { conversationId, name: 'x', size: 100 })).body.upload;
		for (const offset of ['-1', '1e400', '1e2', String(2 ** 53), '99999999999999999999', 'abc', '', '0x10', '01', '1.0', '+1', '0, 0']) {
			const res = await patch(alice, id, offset, pattern(10));
			expect([offset, res.status, res.body.error?.code]).toEqual([offset, 400, 'bad_request']);
		}
		const noOffset = await alice.client.request('PATCH', `/api/attachments/uploads/${id}`, undefined, {
			headers: { 'content-type': OFFSET_TYPE },
			raw: pattern(10)
		});
		expect(noOffset.status).toBe(400);
		expect((await patch(alice, id, 0, pattern(10), { 'content-type': 'application/octet-stream' })).status).toBe(415);
		expect((await patch(alice, id, 0, pattern(10), { origin: 'https://evil.example' })).status).toBe(403);
		const anonymous = await fetch(`${origin}/api/attachments/uploads/${id}`, {
			method: 'PATCH',
			headers: { origin, 'content-type': OFFSET_TYPE, 'upload-offset': '0' },
			body: pattern(10)
		});
		expect(anonymous.status).toBe(401);
		expect((await anonymous.json()).error.code).toBe('unauthorized');
		const wrongJson = await alice.client.request('POST', '/api/attachments/uploads', undefined, {
			headers: { 'content-type': 'text/plain' },
			raw: JSON.stringify({ conversationId, name: 'x', size: 1 })
		});
		expect(wrongJson.status).toBe(415);
		expect((await alice.client.request('DELETE', `/api/attachments/uploads/${id}`)).status).toBe(404);
		// None of it moved the upload.
		expect((await alice.client.get(`/api/attachments/uploads/${id}`)).body.upload.offset).toBe(0);
		expect((await patch(alice, id, 0, pattern(100))).status).toBe(201);
	});
});

describeEngines('resumable uploads: the sweep', (engine) => {
	let server: TestServer;
	beforeAll(async () => {
		server = await startServer({ engine, env: { UNSENT_UPLOAD_MAX_AGE_MS: '300', ATTACHMENT_SWEEP_MS: '100' } });
	});
	afterAll(async () => {
		await server.stop();
	});

	test('an upload never finished is deleted with its chunks once older than UNSENT_UPLOAD_MAX_AGE_MS', async () => {
		const { alice, conversationId } = await signedInPair(server.origin);
		const { id } = (await create(alice, { conversationId, name: 'x', size: 3 * CHUNK })).body.upload;
		expect((await patch(alice, id, 0, pattern(CHUNK))).body.upload.offset).toBe(CHUNK);
		await expect
			.poll(async () => (await alice.client.get(`/api/attachments/uploads/${id}`)).status, { timeout: 10_000, interval: 100 })
			.toBe(404);
		expect((await patch(alice, id, CHUNK, pattern(CHUNK))).status).toBe(404);
		if (engine === 'postgres') {
			const sql = postgres(server.databaseUrl, { max: 1, onnotice: () => {} });
			try {
				expect((await sql`select count(*)::int as n from blob_chunks where key like ${id + '/%'}`)[0].n).toBe(0);
			} finally {
				await sql.end();
			}
		}
	});
});

// The chunks a killed server left can only be counted from outside while it runs on PostgreSQL.
describe.skipIf(!process.env.TEST_DATABASE_URL)('a multipart upload cut off by SIGKILL [postgres]', () => {
	let server: TestServer | undefined;
	afterEach(async () => {
		await server?.kill();
	});

	test('leaves a row in uploading state, so the sweep deletes its chunks after the restart', async () => {
		const databaseUrl = await createPostgresDatabase();
		const port = await freePort();
		server = await startServer({ engine: 'postgres', port, databaseUrl });
		const { alice, conversationId } = await signedInPair(server.origin);
		const boundary = 'x-boundary';
		const head = `--${boundary}\r\ncontent-disposition: form-data; name="conversationId"\r\n\r\n${conversationId}\r\n--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="cut.bin"\r\n\r\n`;
		const socket = net.connect(port, '127.0.0.1');
		await new Promise((resolve) => socket.once('connect', resolve));
		socket.on('error', () => {});
		socket.write(
			`POST /api/attachments HTTP/1.1\r\nhost: 127.0.0.1\r\norigin: ${server.origin}\r\ncookie: ${alice.client.cookie}\r\n` +
				`content-type: multipart/form-data; boundary=${boundary}\r\ncontent-length: ${head.length + 4 * 1024 * 1024}\r\n\r\n${head}`
		);
		socket.write(pattern(2 * 1024 * 1024));
		const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
		try {
			const chunks = async () => (await sql`select count(*)::int as n from blob_chunks`)[0].n;
			await expect.poll(chunks, { timeout: 10_000, interval: 50 }).toBeGreaterThan(0);
			await server.kill();
			socket.destroy();
			const rows = await sql`select state from attachments`;
			expect(rows.map((r) => r.state)).toEqual(['uploading']);

			server = await startServer({
				engine: 'postgres',
				port,
				databaseUrl,
				env: { UNSENT_UPLOAD_MAX_AGE_MS: '100', ATTACHMENT_SWEEP_MS: '100' }
			});
			await expect.poll(chunks, { timeout: 10_000, interval: 50 }).toBe(0);
			expect((await sql`select count(*)::int as n from attachments`)[0].n).toBe(0);
		} finally {
			await sql.end();
		}
	});
});

describeEngines('resumable uploads: rate and quota', (engine) => {
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

	test('a created upload holds its whole size of the unsent quota and counts as one upload toward the rate', async () => {
		const { alice, conversationId } = await signedInPair(server.origin);
		expect((await create(alice, { conversationId, name: 'a', size: 20000 })).status).toBe(201);
		const over = await create(alice, { conversationId, name: 'b', size: 10000 });
		expect([over.status, over.body.error.code]).toEqual([413, 'too_large']);
		// Refused for the quota, it still spent its token, as a multipart upload refused late does.
		expect((await create(alice, { conversationId, name: 'c', size: 10 })).status).toBe(201);
		const limited = await create(alice, { conversationId, name: 'd', size: 10 });
		expect([limited.status, limited.body.error.code]).toEqual([429, 'rate_limited']);
		expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
	});
});
