/**
 * GET /metrics for the operator: off without METRICS_TOKEN, never public with it, and what it
 * counts moves with what the server does (connections by transport, sends and their latency,
 * commit batches, errors by code, the PostgreSQL pool's use).
 */
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
	ApiClient,
	createPostgresDatabase,
	describeEngines,
	signedInPair,
	startServer,
	uniqueName,
	WsClient,
	type TestServer
} from './harness';

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
		for (const gauge of ['duet_db_pool_in_use', 'duet_db_pool_waiting', 'duet_db_pool_size']) {
			expect(ok.text).toContain(`# TYPE ${gauge} gauge`);
		}
		// PGlite has no pool; PostgreSQL's is DATABASE_POOL_SIZE (10).
		expect(sample(ok.text, 'duet_db_pool_size')).toBe(engine === 'postgres' ? 10 : 0);
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

describe.skipIf(!process.env.TEST_DATABASE_URL)('GET /metrics: the PostgreSQL pool [postgres]', () => {
	let databaseUrl: string;
	let server: TestServer;
	beforeAll(async () => {
		databaseUrl = await createPostgresDatabase();
		// One connection, and statements that wait behind the test's lock rather than end.
		const env = { METRICS_TOKEN: TOKEN, DATABASE_POOL_SIZE: '1', DATABASE_STATEMENT_TIMEOUT_MS: '60000' };
		server = await startServer({ engine: 'postgres', databaseUrl, env });
	});
	afterAll(async () => {
		await server.stop();
		expect(server.output()).not.toContain('Unexpected error');
	});

	test('counts the connections taken and the work waiting for one', async () => {
		const pool = async () => {
			const text = await (await fetch(`${server.origin}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
			return {
				inUse: sample(text, 'duet_db_pool_in_use'),
				waiting: sample(text, 'duet_db_pool_waiting'),
				size: sample(text, 'duet_db_pool_size')
			};
		};
		await expect.poll(pool).toEqual({ inUse: 0, waiting: 0, size: 1 });
		const direct = postgres(databaseUrl, { max: 1, onnotice: () => {} });
		const lock = await direct.reserve();
		try {
			// A sign-up inserts into users in a transaction: the first holds the one connection behind
			// the lock, the second waits for it.
			await lock`begin`;
			await lock`lock table users in exclusive mode`;
			const signups = [1, 2].map(() =>
				new ApiClient(server.origin).post('/api/auth/register', { username: uniqueName(), password: 'correct horse battery' })
			);
			await expect.poll(async () => ((p) => p.inUse === 1 && (p.waiting ?? 0) >= 1)(await pool()), { timeout: 30_000 }).toBe(true);
			await lock`commit`;
			for (const response of await Promise.all(signups)) expect(response.status).toBe(201);
		} finally {
			lock.release();
			await direct.end();
		}
		await expect.poll(pool).toEqual({ inUse: 0, waiting: 0, size: 1 });
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
