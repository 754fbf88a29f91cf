/**
 * Graceful shutdown of the production server on SIGTERM: sends held behind a gap are committed
 * (and acked) before the process exits, WebSockets get 1001 and SSE streams end so clients resume
 * elsewhere, and the process exits with code 0 well within SHUTDOWN_TIMEOUT_MS.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { expect, test } from 'vitest';
import { ApiClient, describeEngines, signedInClient, SseClient, startServer, WsClient, type TestServer } from './harness';

const SHUTDOWN_TIMEOUT_MS = 10_000;
/** Far longer than the test: whatever gets committed is committed by the shutdown, not the timer. */
const GAP_TIMEOUT_MS = 30_000;

/** POSTs without waiting for the answer; resolves `sent` once the whole request is on the wire. */
function postInFlight(server: TestServer, cookie: string, body: unknown) {
	const payload = JSON.stringify(body);
	let markSent!: () => void;
	const sent = new Promise<void>((resolve) => (markSent = resolve));
	const response = new Promise<{ status: number; body: any }>((resolve, reject) => {
		const req = http.request(
			`${server.origin}/api/messages`,
			{
				method: 'POST',
				agent: false,
				headers: { 'content-type': 'application/json', origin: server.origin, cookie, 'content-length': Buffer.byteLength(payload) }
			},
			(res) => {
				let text = '';
				res.on('data', (chunk) => (text += chunk));
				res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : null }));
				res.on('error', reject);
			}
		);
		req.on('error', reject);
		req.on('finish', markSent);
		req.end(payload);
	});
	return { sent, response };
}

describeEngines('graceful shutdown on SIGTERM', (engine) => {
	test('commits the sends held behind a gap, closes sockets with 1001, ends SSE, exits 0 in time', { timeout: 90_000 }, async () => {
		const env = { GAP_TIMEOUT_MS: String(GAP_TIMEOUT_MS), SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS) };
		const server = await startServer({ engine, env });
		// On PostgreSQL a second instance on the same database stays up: the one clients resume on,
		// and the witness of what the first committed. (In-memory PGlite dies with its process; there
		// the acks, which are sent only once a message is durable, are the evidence.)
		const other: TestServer | undefined =
			engine === 'postgres' ? await startServer({ engine, databaseUrl: server.databaseUrl, env }) : undefined;
		try {
			const alice = await signedInClient(server.origin);
			const bob = await signedInClient(server.origin);
			const opened = await alice.client.post('/api/conversations', { username: bob.user.username });
			const conversationId = opened.body.conversation.id as string;
			const bobWs = await WsClient.connect(server.origin, bob.client.cookie);
			const bobSse = await SseClient.connect(server.origin, bob.client.cookie);

			// clientSeq 1 never comes: 2, 3 and 4 wait in the sequence buffer.
			const clientId = randomUUID();
			const held = [2, 3, 4].map((clientSeq) => ({
				id: randomUUID(),
				conversationId,
				clientId,
				clientSeq,
				body: `held ${clientSeq}`
			}));
			const inFlight = held.map((message) => postInFlight(server, alice.client.cookie!, message));
			await Promise.all(inFlight.map((p) => p.sent));
			// /readyz reports how many sends wait behind a gap: shut down only once all three do.
			const probe = new ApiClient(server.origin);
			await expect.poll(async () => (await probe.get('/readyz')).body.heldSends, { timeout: 20_000 }).toBe(3);

			const started = Date.now();
			const exited = server.stop();
			const closed = await bobWs.waitClosed();
			expect(closed.code).toBe(1001);
			await bobSse.waitUntil(() => bobSse.ended, 5000);

			// The held sends were committed, in clientSeq order, and their POSTs answered.
			const responses = await Promise.all(inFlight.map((p) => p.response));
			expect(responses.map((r) => r.status)).toEqual([200, 200, 200]);
			expect(responses.map((r) => r.body.seq)).toEqual([1, 2, 3]);
			expect(await exited).toBe(0);
			expect(Date.now() - started).toBeLessThan(SHUTDOWN_TIMEOUT_MS);
			expect(server.output()).toContain('Shut down cleanly');

			if (!other) return;
			const reader = new ApiClient(other.origin);
			reader.cookie = alice.client.cookie;
			const history = await reader.get(`/api/conversations/${conversationId}/messages`);
			expect(history.body.messages.map((m: any) => m.clientSeq)).toEqual([2, 3, 4]);

			// Bob resumes there from his cursor.
			const resumed = await WsClient.connect(other.origin, bob.client.cookie, { cursor: '0' });
			const replayed = await resumed.waitForCount((f) => f.type === 'message', 3);
			expect(replayed.map((f) => f.message.id)).toEqual(held.map((m) => m.id));
			resumed.close();
		} finally {
			await server.kill();
			await other?.stop();
		}
	});
});
