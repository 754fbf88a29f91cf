/**
 * Hostile input: property-based fuzzing of every JSON endpoint and WebSocket frame type, and
 * hand-made WebSocket frames that break the protocol. The server must answer with a documented
 * error, stay up, and store nothing.
 */
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { ApiClient, describeEngines, signedInClient, startServer, WsClient, type TestServer } from './harness';

const RUNS = Number(process.env.FUZZ_RUNS ?? 60);
const DOCUMENTED = new Set([
	'bad_request',
	'unauthorized',
	'forbidden',
	'not_found',
	'conflict',
	'too_large',
	'unsupported_media_type',
	'rate_limited'
]);

/** Bodies that are wrong in every way we could think of, plus whatever fast-check invents. */
function hostileBody(validish: Record<string, fc.Arbitrary<unknown>>) {
	const weird = fc.oneof(
		fc.string({ unit: 'binary' }),
		fc.constantFrom('\u0000', '\uD800', '\uFFFF', '𝔘𝔫𝔦𝔠𝔬𝔡𝔢', 'a\u0000b', '<script>alert(1)</script>', ' '.repeat(5000), 'x'.repeat(70_000)),
		fc.integer(),
		fc.double(),
		fc.boolean(),
		fc.constant(null),
		fc.array(fc.anything(), { maxLength: 5 })
	);
	const record = fc.record(Object.fromEntries(Object.entries(validish).map(([k, v]) => [k, fc.oneof(v, weird)])), { requiredKeys: [] });
	return fc.oneof(
		record.map((r) => JSON.stringify(r)),
		fc.anything().map((v) => JSON.stringify(v) ?? 'undefined'),
		fc.json(),
		record.map((r) => JSON.stringify(r)).chain((s) => fc.nat(s.length).map((n) => s.slice(0, n))), // truncated
		fc.nat({ max: 20_000 }).map((depth) => '['.repeat(depth) + ']'.repeat(depth)), // deeply nested
		fc.string({ unit: 'binary' })
	);
}

describeEngines('hostile input', (engine) => {
	let server: TestServer;
	let alice: Awaited<ReturnType<typeof signedInClient>>;
	let bob: Awaited<ReturnType<typeof signedInClient>>;
	let conversationId: string;

	async function messageCount() {
		const res = await alice.client.get(`/api/conversations/${conversationId}/messages?limit=200`);
		return res.body.messages.length as number;
	}

	beforeAll(async () => {
		server = await startServer({ engine });
		alice = await signedInClient(server.origin);
		bob = await signedInClient(server.origin);
		conversationId = (await alice.client.post('/api/conversations', { username: bob.user.username })).body.conversation.id;
		await alice.client.post('/api/messages', { id: randomUUID(), conversationId, clientId: randomUUID(), clientSeq: 1, body: 'baseline' });
	});
	afterAll(async () => {
		await server?.stop();
	});

	const uuid = fc.oneof(fc.uuid(), fc.constant(randomUUID()));
	const endpoints: Array<[string, Record<string, fc.Arbitrary<unknown>>]> = [
		['/api/auth/register', { username: fc.string(), password: fc.string() }],
		['/api/auth/login', { username: fc.string(), password: fc.string() }],
		['/api/conversations', { username: fc.string() }],
		['/api/messages', { id: uuid, conversationId: uuid, clientId: uuid, clientSeq: fc.integer(), body: fc.string() }],
		['/api/receipts', { conversationId: uuid, seq: fc.integer(), status: fc.constantFrom('read', 'delivered', 'seen') }],
		['/api/typing', { conversationId: uuid }]
	];

	for (const [path, shape] of endpoints) {
		test(`POST ${path}: random, truncated, oversized, nested and unicode bodies get documented errors`, async () => {
			const before = await messageCount();
			const seen = new Map<number, number>();
			await fc.assert(
				fc.asyncProperty(hostileBody(shape), fc.constantFrom('application/json', 'text/plain', ''), async (raw, type) => {
					const res = await alice.client.request('POST', path, undefined, { raw, headers: type ? { 'content-type': type } : {} });
					seen.set(res.status, (seen.get(res.status) ?? 0) + 1);
					expect(res.status).toBeLessThan(500);
					if (res.status >= 400) {
						expect(DOCUMENTED.has(res.body?.error?.code), JSON.stringify(res.body)).toBe(true);
						expect(typeof res.body.error.message).toBe('string');
					}
				}),
				{ numRuns: RUNS }
			);
			expect((await new ApiClient(server.origin).get('/healthz')).status).toBe(200);
			expect(await messageCount()).toBe(before);
			expect([...seen.keys()].some((s) => s >= 400)).toBe(true);
		});
	}

	test('GET endpoints with hostile query strings', async () => {
		await fc.assert(
			fc.asyncProperty(fc.string({ unit: 'binary', maxLength: 300 }), fc.string({ maxLength: 40 }), async (q, cursor) => {
				// Cut by code points: encodeURIComponent refuses half a surrogate pair.
				const head = (n: number) => Array.from(q).slice(0, n).join('');
				const users = await alice.client.get(`/api/users?q=${encodeURIComponent(q)}`);
				expect(users.status).toBe(200);
				const history = await alice.client.get(
					`/api/conversations/${conversationId}/messages?before=${encodeURIComponent(cursor)}&limit=${encodeURIComponent(head(5))}`
				);
				expect([200, 400]).toContain(history.status);
				const other = await alice.client.get(`/api/conversations/${encodeURIComponent(head(60)) || 'x'}/messages`);
				expect(other.status).toBe(404);
			}),
			{ numRuns: RUNS }
		);
	});

	test('WebSocket frames of every type with hostile fields: error frames, the socket stays open, nothing stored', async () => {
		const before = await messageCount();
		const ws = await WsClient.connect(server.origin, alice.client.cookie);
		const frame = fc.oneof(
			hostileBody({
				type: fc.constantFrom('send', 'receipt', 'typing', 'ping', 'nope'),
				id: fc.string(),
				conversationId: uuid,
				clientId: uuid,
				clientSeq: fc.integer(),
				body: fc.string(),
				seq: fc.integer(),
				status: fc.string()
			}).filter((s) => s.length < 60_000),
			fc
				.record({
					type: fc.constant('send'),
					id: fc.string(),
					conversationId: fc.constant(conversationId),
					clientId: uuid,
					clientSeq: fc.integer({ max: 0 }),
					body: fc.string()
				})
				.map((r) => JSON.stringify(r))
		);
		let sent = 0;
		await fc.assert(
			fc.asyncProperty(frame, async (raw) => {
				ws.send(raw);
				sent++;
			}),
			{ numRuns: RUNS * 3 }
		);
		ws.send({ type: 'ping' });
		await ws.waitFor((f) => f.type === 'pong');
		expect(ws.closed).toBeUndefined();
		const errors = ws.frames.filter((f) => f.type === 'error');
		expect(errors.length).toBeGreaterThan(0);
		for (const error of errors) expect(DOCUMENTED.has(error.code), JSON.stringify(error)).toBe(true);
		expect(sent).toBe(RUNS * 3);
		ws.close();
		expect(await messageCount()).toBe(before);
	});

	test('a message body with a NUL character is refused, not altered', async () => {
		const res = await alice.client.post('/api/messages', {
			id: randomUUID(),
			conversationId,
			clientId: randomUUID(),
			clientSeq: 1,
			body: 'a\u0000b'
		});
		expect(res.status).toBe(400);
		expect(res.body.error.code).toBe('bad_request');
	});

	test('HTML and script payloads are stored and returned verbatim as text', async () => {
		const body = '<img src=x onerror=alert(1)><script>alert(2)</script>';
		const id = randomUUID();
		await alice.client.post('/api/messages', { id, conversationId, clientId: randomUUID(), clientSeq: 1, body });
		const res = await bob.client.get(`/api/conversations/${conversationId}/messages`);
		expect(res.headers.get('content-type')).toBe('application/json');
		expect(res.body.messages.find((m: any) => m.id === id).body).toBe(body);
	});
});

/** Speaks just enough of RFC 6455 by hand to send frames a real client library never would. */
async function rawSocket(server: TestServer, cookie: string) {
	const socket = net.connect(server.port, '127.0.0.1');
	await new Promise((resolve) => socket.once('connect', resolve));
	socket.write(
		`GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
			`Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: ${server.origin}\r\nCookie: ${cookie}\r\n\r\n`
	);
	let buffer = Buffer.alloc(0);
	let upgraded = false;
	const waiters: Array<() => void> = [];
	socket.on('data', (chunk) => {
		buffer = Buffer.concat([buffer, chunk]);
		if (!upgraded) {
			const end = buffer.indexOf('\r\n\r\n');
			if (end !== -1) {
				upgraded = buffer.subarray(0, end).toString().startsWith('HTTP/1.1 101');
				buffer = buffer.subarray(end + 4);
			}
		}
		waiters.splice(0).forEach((w) => w());
	});
	let ended = false;
	socket.on('close', () => {
		ended = true;
		waiters.splice(0).forEach((w) => w());
	});
	socket.on('error', () => {});
	await new Promise<void>((resolve) => {
		const check = () => (upgraded ? resolve() : waiters.push(check));
		check();
	});

	/** Resolves on the next data or close from the server, or after 200 ms (so deadlines are checked). */
	function nextEvent(): Promise<void> {
		return new Promise<void>((resolve) => {
			const t = setTimeout(resolve, 200);
			waiters.push(() => {
				clearTimeout(t);
				resolve();
			});
		});
	}

	/** `headerOnly` sends just the header, for frames the server must refuse on their length alone. */
	function frame(
		opcode: number,
		payload: Buffer,
		{
			fin = true,
			mask = true,
			rsv = 0,
			declaredLength,
			headerOnly = false
		}: { fin?: boolean; mask?: boolean; rsv?: number; declaredLength?: number; headerOnly?: boolean } = {}
	) {
		const length = declaredLength ?? payload.length;
		const header: number[] = [(fin ? 0x80 : 0) | (rsv << 4) | opcode];
		const maskBit = mask ? 0x80 : 0;
		if (length < 126) header.push(maskBit | length);
		else if (length < 65536) header.push(maskBit | 126, length >> 8, length & 0xff);
		else {
			header.push(maskBit | 127, 0, 0, 0, 0);
			header.push((length >>> 24) & 0xff, (length >>> 16) & 0xff, (length >>> 8) & 0xff, length & 0xff);
		}
		if (headerOnly) return Buffer.from(header);
		const key = Buffer.from([1, 2, 3, 4]);
		const body = mask ? Buffer.from(payload.map((b, i) => b ^ key[i % 4])) : payload;
		return Buffer.concat([Buffer.from(header), mask ? key : Buffer.alloc(0), body]);
	}

	/** Resolves with the close code the server sent (or null if it just dropped the socket). */
	async function closeCode(timeoutMs = 10_000): Promise<number | null> {
		const deadline = Date.now() + timeoutMs;
		for (;;) {
			// Skip server frames until a close frame (opcode 8).
			let offset = 0;
			while (offset + 2 <= buffer.length) {
				const opcode = buffer[offset] & 0x0f;
				let length = buffer[offset + 1] & 0x7f;
				let headerLength = 2;
				if (length === 126) {
					length = buffer.readUInt16BE(offset + 2);
					headerLength = 4;
				} else if (length === 127) {
					length = Number(buffer.readBigUInt64BE(offset + 2));
					headerLength = 10;
				}
				if (offset + headerLength + length > buffer.length) break;
				if (opcode === 8) return length >= 2 ? buffer.readUInt16BE(offset + headerLength) : null;
				offset += headerLength + length;
			}
			if (ended) return null;
			if (Date.now() > deadline) throw new Error('no close frame');
			await nextEvent();
		}
	}

	/** Resolves once the server has ended the TCP connection; a server still holding it open fails. */
	async function closedByServer(timeoutMs = 5_000): Promise<void> {
		const deadline = Date.now() + timeoutMs;
		while (!ended) {
			if (Date.now() > deadline) throw new Error('the server kept the connection open');
			await nextEvent();
		}
	}

	return { socket, frame, closeCode, closedByServer };
}

describeEngines('WebSocket protocol violations (raw frames)', (engine) => {
	let server: TestServer;
	let cookie: string;
	let bob: Awaited<ReturnType<typeof signedInClient>>;
	let conversationId: string;
	beforeAll(async () => {
		server = await startServer({ engine });
		const alice = await signedInClient(server.origin);
		cookie = alice.client.cookie!;
		bob = await signedInClient(server.origin);
		conversationId = (await bob.client.post('/api/conversations', { username: alice.user.username })).body.conversation.id;
	});
	afterAll(async () => {
		await server?.stop();
	});

	const text = (s: string) => Buffer.from(s);
	const cases: Array<[string, (r: Awaited<ReturnType<typeof rawSocket>>) => Buffer[], number]> = [
		['an unmasked client frame', (r) => [r.frame(1, text('{"type":"ping"}'), { mask: false })], 1002],
		['a reserved opcode', (r) => [r.frame(3, text('x'))], 1002],
		['reserved bits without an extension', (r) => [r.frame(1, text('{}'), { rsv: 4 })], 1002],
		['invalid UTF-8 in a text frame', (r) => [r.frame(1, Buffer.from([0xc3, 0x28, 0xa0, 0xa1]))], 1007],
		['a close frame with a reserved code', (r) => [r.frame(8, Buffer.from([0x03, 0xe7]))], 1002],
		['a frame declaring more than 64 KiB', (r) => [r.frame(1, Buffer.alloc(0), { declaredLength: 70_000, headerOnly: true })], 1009],
		[
			'a flood of fragments adding up past 64 KiB',
			(r) => [
				r.frame(1, Buffer.alloc(1000, 0x61), { fin: false }),
				...Array.from({ length: 64 }, () => r.frame(0, Buffer.alloc(1000, 0x61), { fin: false })),
				r.frame(0, Buffer.alloc(0), { fin: false, declaredLength: 1000, headerOnly: true })
			],
			1009
		],
		['a control frame that is fragmented', (r) => [r.frame(9, text('ping'), { fin: false })], 1002]
	];

	for (const [name, frames, expected] of cases) {
		test(`${name} closes the connection with ${expected}, and others are still served`, async () => {
			const raw = await rawSocket(server, cookie);
			try {
				// One write, and nothing past the offending frame: bytes the server never reads would make
				// its close answer with a TCP reset, which discards the close frame on our side.
				raw.socket.write(Buffer.concat(frames(raw)));
				expect(await raw.closeCode()).toBe(expected);
				await raw.closedByServer();
			} finally {
				raw.socket.destroy();
			}
			// Another client connects, sends, and is acked: the violation cost only its own connection.
			const other = await WsClient.connect(server.origin, bob.client.cookie);
			const id = randomUUID();
			other.send({ type: 'send', id, conversationId, clientId: randomUUID(), clientSeq: 1, body: `after ${name}` });
			expect(await other.waitFor((f) => f.id === id)).toMatchObject({ type: 'ack', id, conversationId });
			other.close();
			await other.waitClosed();
			expect((await new ApiClient(server.origin).get('/healthz')).status).toBe(200);
		});
	}
});
