/**
 * Hostile input: property-based fuzzing of every JSON endpoint and WebSocket frame type, and
 * hand-made WebSocket frames that break the protocol. The server must answer with a documented
 * error, stay up, and store nothing.
 */
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { ApiClient, changeFrame, describeEngines, signedInClient, startServer, WsClient, type TestServer } from './harness';
import { expectProtocolAnswer, rawRequest, type RawResponse } from './raw-http';

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
		['/api/auth/register', { username: fc.string(), password: fc.string(), inviteCode: fc.string() }],
		['/api/invites', { code: fc.string() }],
		['/api/auth/login', { username: fc.string(), password: fc.string() }],
		['/api/conversations', { username: fc.string() }],
		['/api/messages', { id: uuid, conversationId: uuid, clientId: uuid, clientSeq: fc.integer(), body: fc.string() }],
		['/api/receipts', { conversationId: uuid, seq: fc.integer(), status: fc.constantFrom('read', 'delivered', 'seen') }],
		['/api/typing', { conversationId: uuid }],
		['/api/blocks', { username: fc.string() }],
		['/api/auth/password', { currentPassword: fc.string(), newPassword: fc.string() }]
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

	test('PATCH /api/conversations/:id: hostile bodies get documented errors and leave the mute as it was', async () => {
		const path = `/api/conversations/${conversationId}`;
		const muted = async () => (await alice.client.get('/api/conversations')).body.conversations[0].muted as boolean;
		await fc.assert(
			fc.asyncProperty(hostileBody({ muted: fc.anything() }), async (raw) => {
				const before = await muted();
				const res = await alice.client.request('PATCH', path, undefined, { raw, headers: { 'content-type': 'application/json' } });
				expect(res.status).toBeLessThan(500);
				if (res.status >= 400) {
					expect(DOCUMENTED.has(res.body?.error?.code), JSON.stringify(res.body)).toBe(true);
					expect(await muted()).toBe(before);
				}
			}),
			{ numRuns: RUNS }
		);
		for (const id of ['not-a-uuid', 'x'.repeat(5000), '%00', `${conversationId}x`]) {
			const res = await alice.client.request('PATCH', `/api/conversations/${id}`, { muted: true });
			expect(res.status, id.slice(0, 40)).toBe(404);
			expect(res.body.error.code).toBe('not_found');
		}
		for (const id of ['not-a-uuid', 'x'.repeat(5000), '%00', `${bob.user.id}x`]) {
			const res = await alice.client.request('DELETE', `/api/blocks/${id}`);
			expect(res.status, id.slice(0, 40)).toBe(400);
			expect(res.body.error.code).toBe('bad_request');
		}
		expect((await alice.client.get('/api/blocks')).body.users).toEqual([]);
	});

	test('DELETE /api/me with hostile bodies: documented errors, and the account is still there', async () => {
		await fc.assert(
			fc.asyncProperty(hostileBody({ password: fc.string() }), fc.constantFrom('application/json', 'text/plain', ''), async (raw, type) => {
				const res = await bob.client.request('DELETE', '/api/me', undefined, { raw, headers: type ? { 'content-type': type } : {} });
				expect(res.status).toBeGreaterThanOrEqual(400);
				expect(res.status).toBeLessThan(500);
				expect(DOCUMENTED.has(res.body?.error?.code), JSON.stringify(res.body)).toBe(true);
			}),
			{ numRuns: RUNS }
		);
		expect((await bob.client.get('/api/me')).status).toBe(200);
	});

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
				type: fc.constantFrom('send', 'receipt', 'typing', 'typing_stopped', 'ping', 'nope'),
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

	test('PATCH /api/me/settings: hostile bodies get documented errors and change nothing', async () => {
		const settings = async () => (await alice.client.get('/api/me/settings')).body.settings;
		let expected = await settings();
		await fc.assert(
			fc.asyncProperty(
				hostileBody({ readReceipts: fc.boolean() }),
				fc.constantFrom('application/json', 'text/plain', ''),
				async (raw, type) => {
					const res = await alice.client.request('PATCH', '/api/me/settings', undefined, {
						raw,
						headers: type ? { 'content-type': type } : {}
					});
					expect(res.status).toBeLessThan(500);
					if (res.status >= 400) expect(DOCUMENTED.has(res.body?.error?.code), JSON.stringify(res.body)).toBe(true);
					else expected = res.body.settings;
					expect(await settings()).toEqual(expected);
				}
			),
			{ numRuns: RUNS }
		);
		await alice.client.request('PATCH', '/api/me/settings', { readReceipts: true });
	});

	test('session ids that are not ones, very long or odd: 404 in the protocol shape, no session ended', async () => {
		const before = (await alice.client.get('/api/sessions')).body.sessions;
		for (const bad of ['not-a-session', 'x'.repeat(5000), '%00', encodeURIComponent("' OR '1'='1"), '%20', before[0].id.toUpperCase()]) {
			const res = await alice.client.request('DELETE', `/api/sessions/${bad}`);
			expect(res.status, bad.slice(0, 40)).toBe(404);
			expect(res.body.error.code).toBe('not_found');
		}
		expect((await alice.client.get('/api/sessions')).body.sessions).toEqual(before);
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

describeEngines('hostile input on message changes', (engine) => {
	let server: TestServer;
	let alice: Awaited<ReturnType<typeof signedInClient>>;
	let bob: Awaited<ReturnType<typeof signedInClient>>;
	let conversationId: string;

	/** A fresh message (alice's unless said), so a case that wrongly changed one cannot spill into the next. */
	async function message(from = alice) {
		const id = randomUUID();
		const res = await from.client.post('/api/messages', { id, conversationId, clientId: randomUUID(), clientSeq: 1, body: 'original' });
		expect(res.status).toBe(200);
		return id;
	}

	/** The message as both members now see it; a refused change must leave it exactly so. */
	async function state(id: string) {
		const res = await alice.client.get(`/api/messages/${id}`);
		expect(res.status).toBe(200);
		return res.body.message;
	}

	const raw = (method: string, path: string, { body, headers = [] }: { body?: string; headers?: Array<[string, string]> } = {}) =>
		rawRequest(server.port, {
			method,
			path,
			headers: [
				['cookie', alice.client.cookie!],
				['origin', server.origin],
				...(body === undefined
					? []
					: ([
							['content-type', 'application/json'],
							['content-length', String(Buffer.byteLength(body))]
						] as Array<[string, string]>)),
				...headers
			],
			body
		});

	/** The protocol's error shape, with this code and its status. */
	function expectError(res: RawResponse, code: string, context: string) {
		expectProtocolAnswer(res, context);
		expect(res.json().error?.code, `${context}: ${res.status} ${res.text().slice(0, 200)}`).toBe(code);
	}

	beforeAll(async () => {
		server = await startServer({ engine });
		alice = await signedInClient(server.origin);
		bob = await signedInClient(server.origin);
		conversationId = (await alice.client.post('/api/conversations', { username: bob.user.username })).body.conversation.id;
	});
	afterAll(async () => {
		await server?.stop();
	});

	test('PATCH bodies of every wrong shape: 400/413/415/403 in the protocol shape, the message unchanged', async () => {
		const id = await message();
		const before = await state(id);
		const cases: Array<[string, string, Array<[string, string]>, string]> = [
			['no body field', '{}', [], 'bad_request'],
			['a number', '{"body":5}', [], 'bad_request'],
			['null', '{"body":null}', [], 'bad_request'],
			['an array', '{"body":["x"]}', [], 'bad_request'],
			['an object', '{"body":{"text":"x"}}', [], 'bad_request'],
			['only spaces', JSON.stringify({ body: '   \n\t ' }), [], 'bad_request'],
			['4001 characters', JSON.stringify({ body: 'x'.repeat(4001) }), [], 'bad_request'],
			['a NUL character', JSON.stringify({ body: 'a\u0000b' }), [], 'bad_request'],
			['a lone surrogate', '{"body":"a\\ud800b"}', [], 'bad_request'],
			['a lone low surrogate', '{"body":"\\udc00"}', [], 'bad_request'],
			['truncated JSON', '{"body":"abc', [], 'bad_request'],
			['not an object', '"just a string"', [], 'bad_request'],
			['JSON over 64 KiB', JSON.stringify({ body: 'x'.repeat(70_000) }), [], 'too_large'],
			['text/plain', JSON.stringify({ body: 'edited' }), [['content-type', 'text/plain']], 'unsupported_media_type'],
			['a foreign Origin', JSON.stringify({ body: 'edited' }), [['origin', 'https://evil.example']], 'forbidden']
		];
		for (const [name, body, headers, code] of cases) {
			// A header given again replaces the default (the server sees the last one: send only one).
			const res = await rawRequest(server.port, {
				method: 'PATCH',
				path: `/api/messages/${id}`,
				headers: [
					['cookie', alice.client.cookie!],
					['origin', headers.find(([h]) => h === 'origin')?.[1] ?? server.origin],
					['content-type', headers.find(([h]) => h === 'content-type')?.[1] ?? 'application/json'],
					['content-length', String(Buffer.byteLength(body))]
				],
				body
			});
			expectError(res, code, `PATCH with ${name}`);
		}
		// And whatever fast-check invents, aimed at bob's message (so even a good body is refused: 403).
		const bobs = await message(bob);
		const bobsBefore = await state(bobs);
		await fc.assert(
			fc.asyncProperty(hostileBody({ body: fc.string() }), fc.constantFrom('application/json', 'text/plain', ''), async (body, type) => {
				const res = await alice.client.request('PATCH', `/api/messages/${bobs}`, undefined, {
					raw: body,
					headers: type ? { 'content-type': type } : {}
				});
				expect(res.status, `${res.status} ${JSON.stringify(res.body)} for ${body.slice(0, 100)}`).toBeGreaterThanOrEqual(400);
				expect(res.status).toBeLessThan(500);
				expect(DOCUMENTED.has(res.body?.error?.code), JSON.stringify(res.body)).toBe(true);
			}),
			{ numRuns: RUNS }
		);
		expect(await state(id), 'the message, version included, is as it was').toEqual(before);
		expect(await state(bobs)).toEqual(bobsBefore);
		// The same request with a good body is taken: what was refused above was the input, nothing else.
		const ok = await alice.client.request('PATCH', `/api/messages/${id}`, { body: 'edited' });
		expect(ok.status, JSON.stringify(ok.body)).toBe(200);
		expect(ok.body.message).toMatchObject({ id, body: 'edited', version: before.version + 1 });
	});

	const requests = (bad: string): Array<[string, string, string | undefined]> => [
		['GET', `/api/messages/${bad}`, undefined],
		['PATCH', `/api/messages/${bad}`, JSON.stringify({ body: 'edited' })],
		['DELETE', `/api/messages/${bad}`, undefined],
		['PUT', `/api/messages/${bad}/reactions/${encodeURIComponent('👍')}`, undefined],
		['DELETE', `/api/messages/${bad}/reactions/${encodeURIComponent('👍')}`, undefined]
	];

	test('message ids that are not UUIDs, very long or odd percent-escapes: 404 in the protocol shape, nothing changed', async () => {
		const id = await message();
		const before = await state(id);
		const bad = [
			'not-a-uuid',
			'x'.repeat(5000),
			'%00',
			`${id}%00`,
			`${id}x`,
			encodeURIComponent(`${id}' OR '1'='1`),
			'%20',
			`${id.slice(0, -1)}g`
		];
		for (const segment of bad) {
			for (const [method, path, body] of requests(segment)) {
				expectError(await raw(method, path, { body }), 'not_found', `${method} ${path.slice(0, 80)}`);
			}
		}
		expect(await state(id)).toEqual(before);
		expect((await new ApiClient(server.origin).get('/healthz')).status).toBe(200);
	});

	test('percent-garbage that cannot be decoded, as the message id or the emoji: 400 in the protocol shape, nothing changed', async () => {
		const id = await message();
		const before = await state(id);
		// Bad escapes, a truncated one, UTF-8 of lone surrogates (high and low), an overlong '/', a truncated emoji.
		const garbage = ['%ZZ', '%', '%E0%A4%A', '%ED%A0%80', '%ED%B0%80', '%C0%AF', '%F0%9F%91'];
		for (const segment of garbage) {
			const paths: Array<[string, string, string | undefined]> = [
				...requests(segment),
				['PUT', `/api/messages/${id}/reactions/${segment}`, undefined],
				['DELETE', `/api/messages/${id}/reactions/${segment}`, undefined]
			];
			for (const [method, path, body] of paths) {
				expectError(await raw(method, path, { body }), 'bad_request', `${method} ${path.slice(0, 80)}`);
			}
		}
		expect(await state(id)).toEqual(before);
		expect((await new ApiClient(server.origin).get('/healthz')).status).toBe(200);
	});

	test('emoji path segments that are not one emoji: 400 in the protocol shape, no reaction added or removed', async () => {
		const id = await message();
		// A reaction of alice's already there, so a DELETE that wrongly matched something would show.
		expect((await alice.client.request('PUT', `/api/messages/${id}/reactions/${encodeURIComponent('👍')}`)).status).toBe(200);
		const before = await state(id);
		expect(before.reactions).toEqual([{ emoji: '👍', userIds: [alice.user.id] }]);
		const segments = [
			encodeURIComponent('👍👍'),
			encodeURIComponent('👍a'),
			'abc',
			'a',
			'1',
			encodeURIComponent(' '),
			encodeURIComponent('x'.repeat(10_000)),
			encodeURIComponent('👍'.repeat(800)),
			'%00',
			encodeURIComponent('👍\u0000'),
			encodeURIComponent('\u200d'),
			encodeURIComponent('\ufe0f'),
			encodeURIComponent('<script>'),
			'%2F',
			encodeURIComponent('👍/👍')
		];
		for (const segment of segments) {
			for (const method of ['PUT', 'DELETE']) {
				const res = await raw(method, `/api/messages/${id}/reactions/${segment}`);
				expectError(res, 'bad_request', `${method} reactions/${segment.slice(0, 60)}`);
			}
		}
		await fc.assert(
			fc.asyncProperty(fc.string({ unit: 'grapheme', maxLength: 20 }), fc.constantFrom('PUT', 'DELETE'), async (text, method) => {
				// A letter in it: never a single emoji, whatever else fast-check puts around it.
				const res = await raw(method, `/api/messages/${id}/reactions/${encodeURIComponent(`${text}a`)}`);
				expectError(res, 'bad_request', `${method} reactions/${text}a`);
			}),
			{ numRuns: RUNS }
		);
		expect(await state(id), 'reactions and version as they were').toEqual(before);
		expect((await new ApiClient(server.origin).get('/healthz')).status).toBe(200);
	});

	test('segments the URL resolves away (. and .., raw or percent-encoded): 400, never a redirect onto the message', async () => {
		const id = await message();
		expect((await alice.client.request('PUT', `/api/messages/${id}/reactions/${encodeURIComponent('👍')}`)).status).toBe(200);
		const before = await state(id);
		// A redirect to where they resolve would send a client that follows it (method kept, as 308
		// says) from DELETE …/reactions/.. to DELETE /api/messages/:id: the protocol's 400 instead,
		// as the emoji segment and anywhere else in an /api path.
		const dots = ['..', '.', '%2E%2E', '%2e%2e', '%2e', '%2E', '.%2E', '%2e.'];
		for (const segment of dots) {
			const paths: Array<[string, string, string | undefined]> = [
				...requests(segment),
				['PUT', `/api/messages/${id}/reactions/${segment}`, undefined],
				['DELETE', `/api/messages/${id}/reactions/${segment}`, undefined],
				['DELETE', `/api/messages/${id}/${segment}/reactions/${encodeURIComponent('👍')}`, undefined],
				['GET', `/api/${segment}/api/messages/${id}`, undefined]
			];
			for (const [method, path, body] of paths) {
				expectError(await raw(method, path, { body }), 'bad_request', `${method} ${path}`);
			}
		}
		// An empty emoji segment is no emoji: an error too, never a redirect.
		for (const method of ['PUT', 'DELETE']) {
			const res = await raw(method, `/api/messages/${id}/reactions/`);
			expectProtocolAnswer(res, `${method} reactions/`);
			expect(res.status, `${method} reactions/: ${res.status} ${res.text().slice(0, 200)}`).toBeGreaterThanOrEqual(400);
		}
		// Segments that only look like dots are routed as usual: here, emoji that are not one.
		for (const segment of ['...', '%2E%2E%2E', '%252E', '.a']) {
			expectError(await raw('PUT', `/api/messages/${id}/reactions/${segment}`), 'bad_request', `PUT reactions/${segment}`);
		}
		expect(await state(id), 'the message, its reaction and version as they were').toEqual(before);
	});

	test('with FAST_PATH=off too, undecodable and dot-segment /api paths get the protocol 400 (SvelteKit never sees them)', async () => {
		const off = await startServer({ engine, env: { FAST_PATH: 'off' } });
		try {
			const id = randomUUID();
			for (const path of [
				`/api/messages/${id}/reactions/..`,
				`/api/messages/${id}/reactions/%2e%2E`,
				`/api/messages/${id}/reactions/.`,
				`/api/messages/%ZZ`,
				`/api/messages/${id}/reactions/%F0%9F%91`
			]) {
				for (const method of ['GET', 'PUT', 'DELETE']) {
					const res = await rawRequest(off.port, { method, path, headers: [['origin', off.origin]] });
					expectError(res, 'bad_request', `FAST_PATH=off: ${method} ${path}`);
				}
			}
		} finally {
			await off.stop();
		}
	});

	test('WebSocket change frames with wrong fields: error frames with the right code and id, the socket open, nothing changed', async () => {
		const id = await message();
		const bobs = await message(bob);
		const [before, bobsBefore] = [await state(id), await state(bobs)];
		const ws = await WsClient.connect(server.origin, alice.client.cookie);
		const cases: Array<[string, Record<string, unknown>, string]> = [
			['no change', {}, 'bad_request'],
			['change is a string', { change: 'edit' }, 'bad_request'],
			['an unknown op', { change: { op: 'pin', messageId: id } }, 'bad_request'],
			['no op', { change: { messageId: id, body: 'x' } }, 'bad_request'],
			['messageId not a UUID', { change: { op: 'edit', messageId: 'nope', body: 'x' } }, 'bad_request'],
			['messageId a number', { change: { op: 'delete', messageId: 42 } }, 'bad_request'],
			['edit without body', { change: { op: 'edit', messageId: id } }, 'bad_request'],
			['edit with a number body', { change: { op: 'edit', messageId: id, body: 1 } }, 'bad_request'],
			['edit with 4001 characters', { change: { op: 'edit', messageId: id, body: 'x'.repeat(4001) } }, 'bad_request'],
			['edit with an empty body', { change: { op: 'edit', messageId: id, body: '  ' } }, 'bad_request'],
			['edit with NUL', { change: { op: 'edit', messageId: id, body: 'a\u0000' } }, 'bad_request'],
			['edit with a lone surrogate', { change: { op: 'edit', messageId: id, body: 'a\ud800' } }, 'bad_request'],
			['react without emoji', { change: { op: 'react', messageId: id } }, 'bad_request'],
			['react with two emoji', { change: { op: 'react', messageId: id, emoji: '👍👍' } }, 'bad_request'],
			['react with text', { change: { op: 'react', messageId: id, emoji: 'ok' } }, 'bad_request'],
			['react with an empty emoji', { change: { op: 'react', messageId: id, emoji: '' } }, 'bad_request'],
			['unreact with 10 KB', { change: { op: 'unreact', messageId: id, emoji: 'x'.repeat(10_000) } }, 'bad_request'],
			['react with an array', { change: { op: 'react', messageId: id, emoji: ['👍'] } }, 'bad_request'],
			['edit of a message of the peer', { change: { op: 'edit', messageId: bobs, body: 'mine now' } }, 'forbidden'],
			['delete of a message of the peer', { change: { op: 'delete', messageId: bobs } }, 'forbidden'],
			['edit of an unknown message', { change: { op: 'edit', messageId: randomUUID(), body: 'x' } }, 'not_found'],
			['react to an unknown message', { change: { op: 'react', messageId: randomUUID(), emoji: '👍' } }, 'not_found']
		];
		for (const [name, fields, code] of cases) {
			const frameId = randomUUID();
			ws.send({ type: 'change', id: frameId, ...fields });
			const answer = await ws.waitFor((f) => f.id === frameId);
			expect(answer, name).toMatchObject({ type: 'error', code, id: frameId });
			expect(typeof answer.message, name).toBe('string');
		}
		// A frame id that is not a UUID makes the frame bad, however good its change (echoed when short and plain).
		ws.send({ type: 'change', id: 'not-a-uuid', change: { op: 'edit', messageId: id, body: 'by a bad frame' } });
		expect(await ws.waitFor((f) => f.type === 'error' && f.id === 'not-a-uuid')).toMatchObject({ code: 'bad_request' });
		const errorsBefore = ws.frames.filter((f) => f.type === 'error').length;
		for (const frameId of ['', 'x'.repeat(1000), 7, null, undefined]) {
			ws.send({ type: 'change', id: frameId, change: { op: 'edit', messageId: id, body: 'by a bad frame' } });
		}
		const errors = (await ws.waitForCount((f) => f.type === 'error', errorsBefore + 5)).slice(errorsBefore);
		expect(errors.map((f) => f.code)).toEqual(Array(5).fill('bad_request'));
		// And fast-check's frames, aimed at messages that do not exist, so none can be a valid change.
		await fc.assert(
			fc.asyncProperty(
				hostileBody({
					type: fc.constant('change'),
					id: fc.oneof(fc.uuid(), fc.string()),
					change: fc.record(
						{
							op: fc.constantFrom('edit', 'delete', 'react', 'unreact', 'nope'),
							messageId: fc.oneof(fc.uuid(), fc.string()),
							body: fc.string(),
							emoji: fc.string()
						},
						{ requiredKeys: [] }
					)
				}).filter((s) => s.length < 60_000),
				async (frame) => {
					ws.send(frame);
				}
			),
			{ numRuns: RUNS * 2 }
		);
		ws.send({ type: 'ping' });
		await ws.waitFor((f) => f.type === 'pong');
		expect(ws.closed).toBeUndefined();
		for (const error of ws.frames.filter((f) => f.type === 'error')) expect(DOCUMENTED.has(error.code), JSON.stringify(error)).toBe(true);
		expect(
			ws.frames.filter((f) => f.type === 'changed'),
			'no frame above changed anything'
		).toEqual([]);
		// The socket still takes a good change, and nothing before it touched either message.
		const good = changeFrame({ op: 'react', messageId: id, emoji: '🎉' });
		ws.send(good);
		expect(await ws.waitFor((f) => f.id === good.id)).toMatchObject({ type: 'changed', message: { id, version: before.version + 1 } });
		ws.close();
		expect(await state(bobs)).toEqual(bobsBefore);
		expect({ ...(await state(id)), reactions: before.reactions, version: before.version }).toEqual(before);
	});
});
