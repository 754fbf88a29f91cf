/**
 * The fast path (fast-path.ts, served ahead of SvelteKit by server/index.js) answers exactly as
 * the SvelteKit routes do. Two servers get the same requests, good and bad, in the same order:
 * one as deployed, one with FAST_PATH=off, where SvelteKit serves everything. Status, body and
 * the headers a client acts on must be equal, once what differs by nature (ids the database
 * assigned, timestamps, the session token) is put aside.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { describeEngines, SseClient, signedInClient, startServer, type TestServer } from './harness';
import { chunked, expectProtocolAnswer, rawRequest, type RawRequest, type RawResponse } from './raw-http';

const COMPARED_HEADERS = [
	'content-type',
	'cache-control',
	'retry-after',
	'x-content-type-options',
	'referrer-policy',
	'x-frame-options',
	'x-accel-buffering',
	'set-cookie'
];

const READY = /event: ready\ndata: .*\n\n/;

interface Side {
	server: TestServer;
	cookie: string;
	/** Values that differ between the two databases, with what stands in for them. */
	replacements: Array<[string, string]>;
	conversationId: string;
	held: SseClient[];
}

interface Case {
	name: string;
	request: (side: Side) => RawRequest;
	/** Served by the fast path on the deployed server (the rest it declines, to SvelteKit). */
	fast?: boolean;
}

describeEngines('fast path parity with SvelteKit', (engine) => {
	const sides: Record<'fast' | 'kit', Side> = {} as never;
	const names = { alice: `pa_${randomUUID().slice(0, 8)}`, bob: `pb_${randomUUID().slice(0, 8)}` };
	const ids = Array.from({ length: 8 }, () => randomUUID());
	const clientId = randomUUID();

	beforeAll(async () => {
		const env = { MAX_CONNECTIONS_PER_USER: '3' };
		const [fast, kit] = await Promise.all([startServer({ engine, env }), startServer({ engine, env: { ...env, FAST_PATH: 'off' } })]);
		for (const [key, server] of [
			['fast', fast],
			['kit', kit]
		] as const) {
			const alice = await signedInClient(server.origin, names.alice);
			const bob = await signedInClient(server.origin, names.bob);
			const conversationId = (await alice.client.post('/api/conversations', { username: names.bob })).body.conversation.id;
			sides[key] = {
				server,
				cookie: alice.client.cookie!,
				conversationId,
				held: [],
				replacements: [
					[conversationId, '<conversation>'],
					[alice.user.id, '<alice>'],
					[bob.user.id, '<bob>'],
					[alice.client.cookie!.slice('session='.length), '<token>'],
					[String(server.port), '<port>']
				]
			};
		}
	});
	afterAll(async () => {
		for (const side of Object.values(sides)) for (const stream of side.held) stream.close();
		await Promise.all(Object.values(sides).map((side) => side.server?.stop()));
	});

	const json = (side: Side, body: string | Buffer, extra: Array<[string, string]> = []): Array<[string, string]> => [
		['cookie', side.cookie],
		['origin', side.server.origin],
		['content-type', 'application/json'],
		['content-length', String(Buffer.byteLength(body))],
		...extra
	];
	const message = (side: Side, overrides: Record<string, unknown> = {}) =>
		JSON.stringify({ id: ids[0], conversationId: side.conversationId, clientId, clientSeq: 1, body: 'hello', ...overrides });
	const post =
		(body: (side: Side) => string | Buffer, extra: (side: Side) => Array<[string, string]> = () => []) =>
		(side: Side): RawRequest => ({
			method: 'POST',
			path: '/api/messages',
			headers: json(side, body(side), extra(side)),
			body: body(side)
		});
	/** The plain send of ids[5] with some of its headers replaced (null: left out). */
	const postReplacing =
		(replaced: Record<string, string | null>) =>
		(side: Side): RawRequest => {
			const request = post((s) => message(s, { id: ids[5] }))(side);
			const headers = (request.headers ?? []).flatMap(([n, v]): Array<[string, string]> => {
				if (!(n in replaced)) return [[n, v]];
				const value = replaced[n];
				return value === null ? [] : [[n, value]];
			});
			return { ...request, headers };
		};
	const events =
		(query = '', headers: (side: Side) => Array<[string, string]> = (side) => [['cookie', side.cookie]]) =>
		(side: Side): RawRequest => ({
			method: 'GET',
			path: `/api/events${query}`,
			headers: headers(side),
			until: (body) => READY.test(body)
		});
	const big = (side: Side) => message(side, { id: ids[7], body: 'x'.repeat(65 * 1024) });

	const cases: Case[] = [
		{ name: 'a send', fast: true, request: post((s) => message(s)) },
		{ name: 'its resend (same ack)', fast: true, request: post((s) => message(s)) },
		{ name: 'its id with another body (409)', fast: true, request: post((s) => message(s, { body: 'other' })) },
		{
			name: 'the next send, chunked',
			fast: true,
			request: (s) => ({
				method: 'POST',
				path: '/api/messages',
				headers: [
					['cookie', s.cookie],
					['origin', s.server.origin],
					['content-type', 'application/json; charset=utf-8'],
					['transfer-encoding', 'chunked']
				],
				body: chunked(message(s, { id: ids[1], clientSeq: 2, body: '  trimmed  ' }), 5)
			})
		},
		{ name: 'not JSON', fast: true, request: post(() => '{"id":') },
		{ name: 'an empty body', fast: true, request: post(() => '') },
		{ name: 'a schema violation', fast: true, request: post((s) => message(s, { id: ids[2], clientSeq: 0 })) },
		{ name: 'a lone surrogate', fast: true, request: post((s) => message(s, { id: ids[2], body: '\ud800' })) },
		{
			name: 'bytes that are not UTF-8',
			fast: true,
			request: post((s) =>
				Buffer.concat([Buffer.from(message(s, { id: ids[2] }).slice(0, -2)), Buffer.from([0xc3, 0x28]), Buffer.from('"}')])
			)
		},
		{ name: 'over 64 KiB, declared', fast: true, request: post(big) },
		{
			name: 'over 64 KiB, chunked',
			fast: true,
			request: (s) => ({
				method: 'POST',
				path: '/api/messages',
				headers: [
					['cookie', s.cookie],
					['origin', s.server.origin],
					['content-type', 'application/json'],
					['transfer-encoding', 'chunked']
				],
				body: chunked(big(s))
			})
		},
		{ name: 'a conversation one is not in', fast: true, request: post((s) => message(s, { id: ids[3], conversationId: randomUUID() })) },
		{
			name: 'a JSON charset parameter',
			fast: true,
			request: post(
				(s) => message(s, { id: ids[4], clientSeq: 3 }),
				() => [['content-type', 'application/json;charset=UTF-8']]
			)
		},
		{
			name: 'text/plain (415)',
			request: postReplacing({ 'content-type': 'text/plain' })
		},
		{
			name: 'a foreign Origin (403)',
			request: postReplacing({ origin: 'http://evil.example' })
		},
		{
			name: 'Sec-Fetch-Site: cross-site (403)',
			request: post(
				(s) => message(s, { id: ids[5] }),
				() => [['sec-fetch-site', 'cross-site']]
			)
		},
		{
			name: 'no session (401)',
			request: postReplacing({ cookie: null })
		},
		{
			name: 'session=% (401)',
			request: postReplacing({ cookie: 'session=%' })
		},
		{
			name: 'a session that does not exist (401, cookie cleared)',
			request: postReplacing({ cookie: 'session=aaaaaaaaaaaaaaaaaaaaaaaa.bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb' })
		},
		{ name: 'the event stream', fast: true, request: events() },
		{ name: 'the event stream from cursor 0', fast: true, request: events('?cursor=0') },
		{ name: 'the event stream from a cursor it cannot serve (reset)', fast: true, request: events('?cursor=99999999999999999999') },
		{
			name: 'Last-Event-ID over ?cursor=',
			fast: true,
			request: events('?cursor=x', (s) => [
				['cookie', s.cookie],
				['last-event-id', '1']
			])
		},
		{ name: 'the event stream without a session (401)', request: events('', () => []) },
		{ name: 'the event stream with session=% (401)', request: events('', () => [['cookie', 'session=%']]) }
	];

	for (const { name, request, fast } of cases) {
		test(`${name}: the same answer from the fast path and from SvelteKit`, async () => {
			const [viaFast, viaKit] = await Promise.all([send(sides.fast, request), send(sides.kit, request)]);
			expect(viaFast.normalised).toEqual(viaKit.normalised);
			expectProtocolAnswer(viaFast.response);
			// The witness that each server answered the way it was meant to: the fast path writes a
			// content-length, SvelteKit (adapter-node) streams its JSON answers chunked.
			if (viaFast.response.headers['content-type'] === 'application/json') {
				expect(viaFast.response.framing).toBe(fast ? 'length' : 'chunked');
				expect(viaKit.response.framing).toBe('chunked');
			}
		});
	}

	test('the connection cap: 429 with retry-after from both', async () => {
		for (const side of Object.values(sides)) {
			for (let i = 0; i < 3; i++) side.held.push(await SseClient.connect(side.server.origin, side.cookie));
		}
		const [viaFast, viaKit] = await Promise.all([send(sides.fast, events()), send(sides.kit, events())]);
		expect(viaFast.normalised).toEqual(viaKit.normalised);
		expect(viaFast.response.status).toBe(429);
		expect(viaFast.response.framing).toBe('length');
		expectProtocolAnswer(viaFast.response);
	});
});

async function send(side: Side, request: (side: Side) => RawRequest): Promise<{ response: RawResponse; normalised: unknown }> {
	const response = await rawRequest(side.server.port, request(side));
	const replace = (text: string) => {
		for (const [value, stand] of side.replacements) text = text.split(value).join(stand);
		return text.replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, '<time>').replace(/Expires=[^;]+/gi, 'Expires=<time>');
	};
	const headers = Object.fromEntries(COMPARED_HEADERS.filter((h) => h in response.headers).map((h) => [h, replace(response.headers[h])]));
	let body: unknown = replace(response.text());
	if (response.headers['content-type'] === 'application/json') body = JSON.parse(body as string);
	// An event stream never ends: compare it up to the `ready` event.
	if (response.headers['content-type']?.startsWith('text/event-stream')) {
		const ready = READY.exec(body as string);
		body = (body as string).slice(0, ready ? ready.index + ready[0].length : undefined);
	}
	return { response, normalised: { status: response.status, headers, body } };
}
