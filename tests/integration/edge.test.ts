/**
 * The HTTP edge under hostile headers, framing and query strings, over raw sockets: cookies
 * (malformed percent-encoding, huge, many, duplicate names), Origin, Content-Type,
 * Content-Length against Transfer-Encoding, and every numeric parameter at and past its bounds.
 * After each case the process is alive and healthy, and every refusal is the protocol's error
 * shape with its status: client input never gets a 500, a hang or a dropped connection.
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { ApiClient, describeEngines, signedInClient, startServer, WsClient, type TestServer } from './harness';
import { chunked, expectProtocolAnswer, rawRequest, UPGRADE_HEADERS, type RawRequest } from './raw-http';

const RUNS = Number(process.env.FUZZ_RUNS ?? 60);
/** Each case is a few requests; a budget per case keeps a loaded machine (or FUZZ_RUNS=1000) from timing out. */
const FUZZ_TIMEOUT = 30_000 + RUNS * 2 * 500;

/** Plain decimal within [min, max]: the rule for every numeric query parameter. */
function inRange(value: string, min: number, max: number): boolean {
	return /^(0|[1-9]\d*)$/.test(value) && Number(value) >= min && Number(value) <= max;
}

const BOUNDARY_NUMBERS = [
	'-1',
	'0',
	'1',
	'2',
	'200',
	'201',
	String(2 ** 31 - 1),
	String(2 ** 31),
	String(2 ** 32),
	String(2 ** 53 - 1),
	String(2 ** 53),
	String(2 ** 53 + 1),
	'99999999999',
	'1e309',
	'-1e309',
	'Infinity',
	'NaN',
	'1.5',
	'1.0',
	'+1',
	' 1',
	'1 ',
	'0x10',
	'0b1',
	'1e3',
	'',
	'007',
	'-0',
	'9'.repeat(400),
	'1'.repeat(17),
	'١',
	'%00',
	'null',
	'undefined',
	'[]',
	'{}'
];
const numeric = fc.oneof(
	fc.constantFrom(...BOUNDARY_NUMBERS),
	fc.integer().map(String),
	fc.bigInt().map(String),
	fc.string({ maxLength: 30 })
);

const goodToken = () => 'abcdefghijklmnopqrstuvwx.abcdefghijklmnopqrstuvwxyz234567abcd';
const cookieValue = fc.oneof(
	fc.constantFrom('%', '%%', '%zz', '%E0%A4%A', '%C0%80', '%ED%A0%80', '%00', '%FF', '"', '""', '"%"', ';', '=', '==', ' ', goodToken()),
	fc.string({ maxLength: 60 }).map((s) => s.replace(/[\r\n;]/g, '')),
	fc.string({ unit: 'binary-ascii', maxLength: 60 }).map((s) => s.replace(/[\r\n\0;]/g, '')),
	fc.nat({ max: 12_000 }).map((n) => 'x'.repeat(n))
);
const cookieName = fc.oneof(
	fc.constant('session'),
	fc.constant(' session'),
	fc.constant('SESSION'),
	fc.constant('session '),
	fc.string({ maxLength: 10 }).map((s) => s.replace(/[\r\n;=]/g, '') || 'a')
);
/** Whole Cookie headers: one odd pair, many pairs, names repeated, the real session placed anywhere. */
function cookieHeader(real: string) {
	const pair = fc.tuple(cookieName, cookieValue).map(([n, v]) => `${n}=${v}`);
	return fc.oneof(
		pair,
		fc.array(pair, { minLength: 2, maxLength: 300 }).map((pairs) => pairs.join('; ')),
		fc.tuple(fc.array(pair, { maxLength: 5 }), fc.array(pair, { maxLength: 5 })).map(([a, b]) => [...a, real, ...b].join('; ')),
		fc.tuple(cookieValue, fc.boolean()).map(([v, first]) => (first ? [real, `session=${v}`] : [`session=${v}`, real]).join('; ')),
		fc.constantFrom('session', 'session=', '=session', ';;;', 'session=%; session=%', `${real}; ${real}`, 'a'.repeat(20_000))
	);
}

describeEngines('the HTTP edge', (engine) => {
	let server: TestServer;
	let alice: Awaited<ReturnType<typeof signedInClient>>;
	let bob: Awaited<ReturnType<typeof signedInClient>>;
	let conversationId: string;
	let cookie: string;

	const send = (overrides: Record<string, unknown> = {}) =>
		JSON.stringify({ id: randomUUID(), conversationId, clientId: randomUUID(), clientSeq: 1, body: 'hello', ...overrides });
	const raw = (request: RawRequest) => rawRequest(server.port, request);
	const json = (body: string): Array<[string, string]> => [
		['origin', server.origin],
		['content-type', 'application/json'],
		['content-length', String(Buffer.byteLength(body))]
	];

	async function messageCount() {
		const res = await alice.client.get(`/api/conversations/${conversationId}/messages?limit=200`);
		return res.body.messages.length as number;
	}

	async function expectAlive() {
		expect(server.process.exitCode).toBeNull();
		expect((await new ApiClient(server.origin).get('/healthz')).status).toBe(200);
	}

	beforeAll(async () => {
		// A short gap timeout: sends far ahead of their clientSeq are committed without a long wait.
		server = await startServer({ engine, env: { MAX_CONNECTIONS_PER_USER: '1000', GAP_TIMEOUT_MS: '100' } });
		alice = await signedInClient(server.origin);
		bob = await signedInClient(server.origin);
		cookie = alice.client.cookie!;
		conversationId = (await alice.client.post('/api/conversations', { username: bob.user.username })).body.conversation.id;
	});
	afterEach(async () => {
		await expectAlive();
	});
	afterAll(async () => {
		const output = server?.output() ?? '';
		await server?.stop();
		// The last-resort guard logs "Unexpected error": client input must never reach it.
		expect(output).not.toContain('Unexpected error');
	});

	describe('regressions', () => {
		test('Cookie: session=% is a missing session (401) on /api/events, POST /api/messages and /ws, and the process lives', async () => {
			const headers: Array<[string, string]> = [
				['cookie', 'session=%'],
				['origin', server.origin]
			];
			const events = await raw({ method: 'GET', path: '/api/events', headers });
			const body = send();
			const post = await raw({ method: 'POST', path: '/api/messages', headers: [...headers, ...json(body).slice(1)], body });
			const ws = await raw({ method: 'GET', path: '/ws', headers: [...headers, ...UPGRADE_HEADERS] });
			for (const res of [events, post, ws]) {
				expectProtocolAnswer(res);
				expect(res.status).toBe(401);
				expect(res.json().error.code).toBe('unauthorized');
			}
			await expectAlive();
		});

		test('history cursors past the int columns are 400, not 500', async () => {
			for (const query of ['before=2147483648', 'after=99999999999', 'after=2147483648', 'before=9007199254740993', 'limit=2147483648']) {
				const res = await alice.client.get(`/api/conversations/${conversationId}/messages?${query}`);
				expect(res.status, query).toBe(400);
				expect(res.body.error.code).toBe('bad_request');
			}
			const edge = await alice.client.get(`/api/conversations/${conversationId}/messages?before=2147483647&after=0&limit=200`);
			expect(edge.status).toBe(200);
		});

		test('a lone surrogate in a body is 400 on every transport and nothing is stored; a whole pair is kept and its resend acks', async () => {
			const before = await messageCount();
			for (const body of ['\ud800', 'a\udfff', '\udc00\ud800', 'x\ud83d']) {
				const res = await alice.client.post('/api/messages', JSON.parse(send({ body })));
				expect(res.status).toBe(400);
				expect(res.body.error.code).toBe('bad_request');
			}
			const ws = await WsClient.connect(server.origin, cookie);
			const id = randomUUID();
			ws.send(
				`{"type":"send","id":"${id}","conversationId":"${conversationId}","clientId":"${randomUUID()}","clientSeq":1,"body":"\\ud800"}`
			);
			expect(await ws.waitFor((f) => f.id === id)).toMatchObject({ type: 'error', code: 'bad_request' });
			ws.close();
			expect(await messageCount()).toBe(before);

			const pair = JSON.parse(send({ body: ' 𝔘\ud83d\ude00 ' }));
			const first = await alice.client.post('/api/messages', pair);
			expect(first.status).toBe(200);
			const again = await alice.client.post('/api/messages', pair);
			expect(again.status).toBe(200);
			expect(again.body).toEqual(first.body);
		});

		test('a chunked body over 64 KiB gets 413 too_large on every JSON endpoint, as a declared one does', async () => {
			const big = send({ body: 'x'.repeat(66 * 1024) });
			const paths = [
				'/api/messages',
				'/api/receipts',
				'/api/typing',
				'/api/conversations',
				'/api/auth/login',
				'/api/auth/register',
				'/api/push/subscription'
			];
			for (const path of paths) {
				for (const framed of ['chunked', 'length'] as const) {
					const headers: Array<[string, string]> = [
						['cookie', cookie],
						['origin', server.origin],
						['content-type', 'application/json']
					];
					const res = await raw(
						framed === 'chunked'
							? { method: 'POST', path, headers: [...headers, ['transfer-encoding', 'chunked']], body: chunked(big) }
							: { method: 'POST', path, headers: [...headers, ['content-length', String(big.length)]], body: big }
					);
					expectProtocolAnswer(res, `${path} ${framed}`);
					expect(res.status, `${path} ${framed}`).toBe(413);
					expect(res.json().error.code).toBe('too_large');
				}
			}
			// Well past the limit (a client that keeps sending after the answer): still a 413, not a reset.
			const huge = await raw({
				method: 'POST',
				path: '/api/messages',
				headers: [
					['cookie', cookie],
					['origin', server.origin],
					['content-type', 'application/json'],
					['transfer-encoding', 'chunked']
				],
				body: chunked('x'.repeat(600 * 1024), 65536)
			});
			expect(huge.status).toBe(413);
		});

		test('an upgrade whose URL the URL parser refuses, a broken handshake or a URL past the header limit, never costs the process', async () => {
			for (const path of ['//', '//ws', '/ws?cursor=%', '/ws?%zz', '/ws#x']) {
				const res = await raw({
					method: 'GET',
					path,
					headers: [['cookie', cookie], ['origin', server.origin], ...UPGRADE_HEADERS],
					until: (b) => /"type":"(ready|reset)"/.test(b)
				}).catch(() => null);
				// Paths other than /ws are dropped (null); /ws answers 101 or a protocol error.
				if (res) expectProtocolAnswer(res, path);
			}
			const longUrl = await raw({
				method: 'GET',
				path: `/api/conversations/${conversationId}/messages?before=${'9'.repeat(20_000)}`,
				headers: [['cookie', cookie]]
			});
			expectProtocolAnswer(longUrl);
			expect(longUrl.status).toBe(400);
			const badKey = await raw({
				method: 'GET',
				path: '/ws',
				headers: [
					['cookie', cookie],
					['origin', server.origin],
					['upgrade', 'websocket'],
					['connection', 'Upgrade'],
					['sec-websocket-key', 'short'],
					['sec-websocket-version', '13']
				]
			});
			expectProtocolAnswer(badKey);
			expect(badKey.status).toBe(400);
		});
	});

	describe('fuzzing', () => {
		test(
			'Cookie headers of every shape on /api/events, POST /api/messages, GET /api/me and /ws',
			async () => {
				await fc.assert(
					fc.asyncProperty(cookieHeader(cookie), fc.constantFrom('events', 'send', 'me', 'ws'), async (header, target) => {
						const headers: Array<[string, string]> = [
							['cookie', header],
							['origin', server.origin]
						];
						const body = send();
						const request: RawRequest =
							target === 'send'
								? { method: 'POST', path: '/api/messages', headers: [...headers, ...json(body).slice(1)], body }
								: target === 'ws'
									? {
											method: 'GET',
											path: '/ws',
											headers: [...headers, ...UPGRADE_HEADERS],
											until: (b) => /"type":"(ready|reset)"/.test(b)
										}
									: {
											method: 'GET',
											path: target === 'events' ? '/api/events' : '/api/me',
											headers,
											until: (b) => b.includes('event: ready')
										};
						const res = await raw(request);
						expectProtocolAnswer(res, header.slice(0, 200));
						// Only the real token signs in; with it anywhere but first among sessions, or spoiled, it is 401.
						expect([200, 101, 401, 400]).toContain(res.status);
						// 400 only from node's parser: headers past its 16 KiB, or bytes a header cannot hold.
						if (res.status === 400) expect(header.length > 8000 || hasControlByte(header), header.slice(0, 100)).toBe(true);
					}),
					{ numRuns: RUNS * 2 }
				);
			},
			FUZZ_TIMEOUT
		);

		test(
			'Origin, Sec-Fetch-Site and Content-Type on every state-changing endpoint',
			async () => {
				const origin = fc.oneof(
					fc.constantFrom(
						undefined,
						server.origin,
						`${server.origin}/`,
						'null',
						'http://evil.example',
						server.origin.replace('127.0.0.1', 'localhost'),
						server.origin.toUpperCase(),
						''
					),
					fc.webUrl()
				);
				const site = fc.constantFrom(undefined, 'same-origin', 'same-site', 'cross-site', 'none', 'CROSS-SITE');
				const type = fc.constantFrom(
					undefined,
					'application/json',
					'application/json; charset=utf-8',
					'APPLICATION/JSON',
					'application/jsonx',
					'text/plain',
					'multipart/form-data; boundary=x',
					'application/x-www-form-urlencoded',
					'',
					';',
					'application/json;;;'
				);
				const path = fc.constantFrom(
					'/api/messages',
					'/api/receipts',
					'/api/typing',
					'/api/conversations',
					'/api/auth/logout-everywhere'.replace('-everywhere', '-nowhere')
				);
				await fc.assert(
					fc.asyncProperty(origin, site, type, path, async (o, s, t, p) => {
						const body =
							p === '/api/receipts'
								? JSON.stringify({ conversationId, seq: 1, status: 'read' })
								: p === '/api/conversations'
									? JSON.stringify({ username: bob.user.username })
									: p === '/api/typing'
										? JSON.stringify({ conversationId })
										: send();
						const headers: Array<[string, string]> = [
							['cookie', cookie],
							['content-length', String(Buffer.byteLength(body))]
						];
						if (o !== undefined) headers.push(['origin', o]);
						if (s !== undefined) headers.push(['sec-fetch-site', s]);
						if (t !== undefined) headers.push(['content-type', t]);
						const res = await raw({ method: 'POST', path: p, headers, body });
						expectProtocolAnswer(res, `${o} ${s} ${t} ${p}`);
						const foreign = (o !== undefined && o !== server.origin) || s === 'cross-site';
						if (foreign) expect(res.status).toBe(403);
						else if (p.endsWith('-nowhere')) expect(res.status).toBe(404);
						else if (!/^application\/json\s*(;|$)/i.test(t ?? '')) expect(res.status).toBe(415);
						else expect([200, 204]).toContain(res.status);
					}),
					{ numRuns: RUNS * 2 }
				);
			},
			FUZZ_TIMEOUT
		);

		test(
			'Content-Length against Transfer-Encoding, and broken framing',
			async () => {
				const body = send();
				const framing = fc.constantFrom<() => Pick<RawRequest, 'headers' | 'body' | 'endAfterWrite'>>(
					() => ({ headers: [['content-length', String(body.length)]], body }),
					() => ({
						headers: [
							['content-length', String(body.length)],
							['transfer-encoding', 'chunked']
						],
						body: chunked(body)
					}),
					() => ({
						headers: [
							['transfer-encoding', 'chunked'],
							['content-length', '3']
						],
						body: chunked(body)
					}),
					() => ({ headers: [['transfer-encoding', 'chunked']], body: chunked(body, 7) }),
					() => ({ headers: [['transfer-encoding', 'gzip, chunked']], body: chunked(body) }),
					() => ({ headers: [['transfer-encoding', 'identity']], body, endAfterWrite: true }),
					() => ({ headers: [['transfer-encoding', 'chunked, gzip']], body, endAfterWrite: true }),
					() => ({
						headers: [
							['transfer-encoding', 'chunked'],
							['transfer-encoding', 'chunked']
						],
						body: chunked(body)
					}),
					() => ({ headers: [['transfer-encoding', 'chunked']], body: 'zz\r\nxx\r\n0\r\n\r\n' }),
					() => ({ headers: [['transfer-encoding', 'chunked']], body: `${'f'.repeat(20)}\r\n` }),
					() => ({ headers: [['transfer-encoding', 'chunked']], body: '5\r\n{"a"', endAfterWrite: true }),
					() => ({ headers: [['content-length', '-1']], body }),
					() => ({ headers: [['content-length', 'abc']], body }),
					() => ({ headers: [['content-length', '1e3']], body }),
					() => ({ headers: [['content-length', ' 10']], body: body.slice(0, 10) }),
					() => ({ headers: [['content-length', '99999999999999999999']], body }),
					() => ({
						headers: [
							['content-length', String(body.length)],
							['content-length', '1']
						],
						body
					}),
					() => ({ headers: [['content-length', String(body.length + 50)]], body, endAfterWrite: true }),
					() => ({ headers: [['content-length', '0']] }),
					() => ({ headers: [], body, endAfterWrite: true }),
					() => ({
						headers: [['content-length', String(body.length)]],
						body: Buffer.concat([Buffer.from(body.slice(0, -3)), Buffer.from([0xff, 0xfe]), Buffer.from('"}')])
					})
				);
				await fc.assert(
					fc.asyncProperty(framing, fc.constantFrom('/api/messages', '/api/typing'), async (frame, path) => {
						const { headers = [], ...rest } = frame();
						const res = await raw({
							method: 'POST',
							path,
							headers: [['cookie', cookie], ['origin', server.origin], ['content-type', 'application/json'], ...headers],
							...rest
						});
						expectProtocolAnswer(res, JSON.stringify(headers));
					}),
					{ numRuns: RUNS }
				);
			},
			FUZZ_TIMEOUT
		);

		test(
			'history: before, after and limit at and past every bound are 200 in range, 400 outside',
			async () => {
				await fc.assert(
					fc.asyncProperty(fc.constantFrom('before', 'after', 'limit'), numeric, async (name, value) => {
						const res = await raw({
							method: 'GET',
							path: `/api/conversations/${conversationId}/messages?${name}=${encodeURIComponent(value)}`,
							headers: [['cookie', cookie]]
						});
						expectProtocolAnswer(res, `${name}=${value}`);
						const [min, max] = { before: [1, 2 ** 31 - 1], after: [0, 2 ** 31 - 1], limit: [1, 200] }[name]!;
						expect(res.status, `${name}=${value}`).toBe(inRange(value, min, max) ? 200 : 400);
					}),
					{ numRuns: RUNS * 2 }
				);
				for (const id of ['0', '-1', '2147483648', '00000000-0000-0000-0000-000000000000', 'x'.repeat(5000), '%ff', randomUUID()]) {
					const res = await raw({
						method: 'GET',
						path: `/api/conversations/${encodeURIComponent(id)}/messages`,
						headers: [['cookie', cookie]]
					});
					expectProtocolAnswer(res, id);
					expect(res.status).toBe(404);
				}
			},
			FUZZ_TIMEOUT
		);

		test(
			'event cursors at and past every bound: the stream opens, with `reset` first for one it cannot serve',
			async () => {
				const probe = await WsClient.connect(server.origin, cookie);
				const current = Number(probe.frames.find((f) => f.type === 'ready').cursor);
				probe.close();
				const servable = (value: string) => inRange(value, 0, current);
				await fc.assert(
					fc.asyncProperty(numeric, fc.constantFrom('query', 'last-event-id', 'ws'), async (value, via) => {
						const ws = via === 'ws';
						const res = await raw({
							method: 'GET',
							path: `${ws ? '/ws' : '/api/events'}${via === 'last-event-id' ? '' : `?cursor=${encodeURIComponent(value)}`}`,
							headers: [
								['cookie', cookie],
								['origin', server.origin],
								...(via === 'last-event-id' ? [['last-event-id', value] as [string, string]] : []),
								...(ws ? UPGRADE_HEADERS : [])
							],
							until: (b) => /"type":"ready"/.test(b)
						});
						expectProtocolAnswer(res, `${via} ${value}`);
						expect(res.status).toBe(ws ? 101 : 200);
						const first = /"type":"(ready|reset)"/.exec(res.text())?.[1];
						// A header value reaches the server without its surrounding blanks (HTTP's optional whitespace).
						const seen = via === 'last-event-id' ? value.trim() : value;
						expect(first, `${via} ${JSON.stringify(value)}`).toBe(servable(seen) ? 'ready' : 'reset');
					}),
					{ numRuns: RUNS }
				);
			},
			FUZZ_TIMEOUT
		);

		test(
			'receipts and sends with numbers at and past every bound',
			async () => {
				const number = fc.constantFrom(-1, 0, 1, 2 ** 31 - 1, 2 ** 31, 2 ** 53 - 1, 2 ** 53, 1.5, -0, 1e308);
				await fc.assert(
					fc.asyncProperty(number, number, async (seq, clientSeq) => {
						const receipt = JSON.stringify({ conversationId, seq, status: 'delivered' });
						const r = await raw({ method: 'POST', path: '/api/receipts', headers: [['cookie', cookie], ...json(receipt)], body: receipt });
						expectProtocolAnswer(r, receipt);
						const message = send({ clientSeq, body: `n ${clientSeq}` });
						const s = await raw({
							method: 'POST',
							path: '/api/messages',
							headers: [['cookie', cookie], ...json(message)],
							body: message,
							timeoutMs: 15_000
						});
						expectProtocolAnswer(s, message);
					}),
					{ numRuns: RUNS }
				);
			},
			FUZZ_TIMEOUT
		);
	});
});

describe('the last-resort guard (server/index.js)', () => {
	let server: TestServer;
	let cookie: string;
	beforeAll(async () => {
		const fixture = fileURLToPath(new URL('./fixtures/throwing-runtime.js', import.meta.url));
		server = await startServer({ engine: 'pglite', env: { NODE_OPTIONS: `--import=${fixture}` } });
		cookie = (await signedInClient(server.origin)).client.cookie!;
	});
	afterAll(async () => {
		await server?.stop();
	});

	test('a request handler that throws or rejects is logged loudly and answered 500 internal; the process lives', async () => {
		for (const how of ['sync', 'async']) {
			for (const path of ['/api/events', '/api/me']) {
				const res = await rawRequest(server.port, {
					method: 'GET',
					path,
					headers: [
						['cookie', cookie],
						['x-test-throw', how]
					]
				});
				expect(res.status, `${how} ${path}`).toBe(500);
				expect(res.json()).toEqual({ error: { code: 'internal', message: expect.any(String) } });
				expect(res.headers['x-content-type-options']).toBe('nosniff');
			}
			const upgrade = await rawRequest(server.port, {
				method: 'GET',
				path: '/ws',
				headers: [['cookie', cookie], ['x-test-throw', how], ...UPGRADE_HEADERS]
			});
			expect(upgrade.status).toBe(500);
			expect(upgrade.json().error.code).toBe('internal');
		}
		// JSON lines (pino): what failed, where, from whom, and the error with its stack. The lines
		// come through the server's stdout, which is read apart from the sockets: waited for.
		const failed = () => jsonLines(server).filter((line) => line.msg === 'Unexpected error in request: GET /api/me from 127.0.0.1');
		await expect
			.poll(() =>
				failed()
					.map((line) => line.err.message)
					.sort()
			)
			.toEqual(['injected rejection', 'injected synchronous failure']);
		for (const line of failed()) {
			expect(line).toMatchObject({ level: 'error', method: 'GET', path: '/api/me', address: '127.0.0.1' });
			expect(line.err.stack).toContain(line.err.message);
			expect(typeof line.reqId).toBe('string');
		}
		await expect
			.poll(() => jsonLines(server).filter((line) => line.msg === 'Unexpected error in upgrade: GET /ws from 127.0.0.1').length)
			.toBe(2);
		expect(server.process.exitCode).toBeNull();
		expect((await new ApiClient(server.origin).get('/healthz')).status).toBe(200);
	});

	test('one that fails after its reply began has the connection cut, and the process lives', async () => {
		await expect(
			rawRequest(server.port, {
				method: 'GET',
				path: '/api/me',
				headers: [
					['cookie', cookie],
					['x-test-throw', 'midway']
				]
			})
		).rejects.toThrow(/closed without a complete response/);
		await expect.poll(() => server.output()).toContain('injected failure after the reply began');
		expect((await new ApiClient(server.origin).get('/healthz')).status).toBe(200);
	});
});

/** A byte no header value may hold: a control character other than tab. */
function hasControlByte(text: string): boolean {
	for (let i = 0; i < text.length; i++) {
		const code = text.charCodeAt(i);
		if ((code < 0x20 && code !== 0x09) || code === 0x7f) return true;
	}
	return false;
}

/** The server's log lines so far, parsed (pino writes one JSON object per line). */
function jsonLines(server: TestServer): any[] {
	return server
		.output()
		.split('\n')
		.filter((line) => line.startsWith('{'))
		.map((line) => JSON.parse(line));
}
