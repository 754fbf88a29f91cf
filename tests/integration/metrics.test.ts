/**
 * GET /metrics for the operator: off without METRICS_TOKEN, never public with it, and what it
 * counts moves with what the server does (connections by transport, sends and their latency,
 * commit batches, errors by code).
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { describeEngines, signedInPair, startServer, WsClient, type TestServer } from './harness';

const TOKEN = 'metrics-token-for-tests-0123456789';

/** One sample's value from the exposition text, or undefined. */
function sample(text: string, series: string): number | undefined {
	const line = text.split('\n').find((l) => l.startsWith(`${series} `));
	return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describeEngines('GET /metrics', (engine) => {
	let server: TestServer;
	beforeAll(async () => {
		server = await startServer({ engine, env: { METRICS_TOKEN: TOKEN } });
	});
	afterAll(async () => {
		await server.stop();
		expect(server.output()).not.toContain('Unexpected error');
	});

	const scrape = async (authorization?: string) => {
		const response = await fetch(`${server.origin}/metrics`, { headers: authorization ? { authorization } : {} });
		return { status: response.status, headers: response.headers, text: await response.text() };
	};

	test('answers only with the bearer token: none, a wrong one or another scheme get 401', async () => {
		for (const authorization of [undefined, 'Bearer nope', `Basic ${TOKEN}`, `Bearer ${TOKEN}x`, 'Bearer ']) {
			const refused = await scrape(authorization);
			expect(refused.status).toBe(401);
			expect(refused.headers.get('www-authenticate')).toContain('Bearer');
			expect(JSON.parse(refused.text).error.code).toBe('unauthorized');
			expect(refused.text).not.toContain('duet_');
		}
		const ok = await scrape(`Bearer ${TOKEN}`);
		expect(ok.status).toBe(200);
		expect(ok.headers.get('content-type')).toContain('text/plain');
		expect(ok.text).toContain('# TYPE duet_send_duration_seconds histogram');
		expect(ok.text).toContain('duet_process_cpu_seconds_total');
	});

	test('counts connections by transport, sends, their latency, batches and errors by code', async () => {
		const auth = `Bearer ${TOKEN}`;
		const before = (await scrape(auth)).text;
		const { alice, bob, conversationId } = await signedInPair(server.origin);
		const ws = await WsClient.connect(server.origin, bob.client.cookie);
		const during = (await scrape(auth)).text;
		expect(sample(during, 'duet_connections{transport="WebSocket"}')).toBe(
			(sample(before, 'duet_connections{transport="WebSocket"}') ?? 0) + 1
		);

		const sent = await alice.client.post('/api/messages', {
			id: crypto.randomUUID(),
			conversationId,
			clientId: crypto.randomUUID(),
			clientSeq: 1,
			body: 'counted'
		});
		expect(sent.status).toBe(200);
		expect((await alice.client.post('/api/messages', { nonsense: true })).status).toBe(400);
		const after = (await scrape(auth)).text;
		expect(sample(after, 'duet_sends_total{outcome="ok"}')).toBe((sample(before, 'duet_sends_total{outcome="ok"}') ?? 0) + 1);
		expect(sample(after, 'duet_send_duration_seconds_count')).toBe((sample(before, 'duet_send_duration_seconds_count') ?? 0) + 1);
		expect(sample(after, 'duet_commit_batch_size_count')).toBeGreaterThan(sample(before, 'duet_commit_batch_size_count') ?? 0);
		expect(sample(after, 'duet_errors_total{code="bad_request"}')).toBeGreaterThan(
			sample(before, 'duet_errors_total{code="bad_request"}') ?? 0
		);
		ws.close();
		await ws.waitClosed();
		await expect
			.poll(async () => sample((await scrape(auth)).text, 'duet_connections{transport="WebSocket"}'))
			.toBe(sample(before, 'duet_connections{transport="WebSocket"}') ?? 0);
	});
});

describe('GET /metrics without METRICS_TOKEN', () => {
	let server: TestServer;
	beforeAll(async () => {
		server = await startServer({ engine: 'pglite' });
	});
	afterAll(async () => {
		await server.stop();
	});

	test('is off: 404, whatever the header', async () => {
		for (const headers of [{}, { authorization: 'Bearer anything-at-all-here' }] as Record<string, string>[]) {
			const response = await fetch(`${server.origin}/metrics`, { headers });
			expect(response.status).toBe(404);
			expect(await response.text()).not.toContain('duet_');
		}
	});
});
