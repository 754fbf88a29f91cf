/**
 * The last resort for sockets: a push connection whose start fails (the database went away
 * between the session check and the stream's first reads) costs that connection only. Before,
 * the SSE fast path had sent its headers when the start failed, the failure went on to SvelteKit's
 * handler with that response already begun, and the process died of ERR_HTTP_HEADERS_SENT.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createPostgresDatabase, signedInClient, SseClient, startServer, WsClient, type TestServer } from './harness';
import { startTcpProxy, type TcpProxy } from './proxies';

describe.skipIf(!process.env.TEST_DATABASE_URL)('push connections opened while the database is away [postgres]', () => {
	let server: TestServer;
	let proxy: TcpProxy;
	beforeAll(async () => {
		const base = new URL(await createPostgresDatabase());
		proxy = await startTcpProxy(base.hostname, Number(base.port || 5432));
		const viaProxy = new URL(base);
		viaProxy.port = String(proxy.port);
		server = await startServer({ engine: 'postgres', databaseUrl: viaProxy.toString(), env: { DATABASE_POOL_SIZE: '2' } });
	});
	afterAll(async () => {
		proxy?.restore();
		const output = server?.output() ?? '';
		const code = await server?.stop();
		await proxy?.close();
		expect(code).toBe(0);
		expect(output).not.toContain('Unexpected error');
	});

	test('SSE and WebSocket connections fail alone, the process stays up, and both work again after', { timeout: 120_000 }, async () => {
		const alice = await signedInClient(server.origin);
		const bob = await signedInClient(server.origin);
		await alice.client.post('/api/conversations', { username: bob.user.username });
		// The session is now cached, so the fast path's session check passes without the database.
		const first = await SseClient.connect(server.origin, alice.client.cookie);
		first.close();

		proxy.cut();
		const attempts = await Promise.all(
			Array.from({ length: 4 }, async () => {
				const sse = await SseClient.connect(server.origin, alice.client.cookie).catch((error: Error) => error);
				const ws = await WsClient.connect(server.origin, alice.client.cookie).catch((error: Error) => error);
				return { sse, ws };
			})
		);
		for (const { sse, ws } of attempts) {
			// Refused, or ended before `ready`: either way no stream, and nothing else harmed.
			if (!(sse instanceof Error)) expect(sse.status).not.toBe(200);
			expect(ws).toBeInstanceOf(Error);
		}
		expect(server.process.exitCode).toBeNull();
		expect((await fetch(`${server.origin}/healthz`)).status).toBe(200);

		proxy.restore();
		// Nothing announces that the pool has reconnected; retry until a stream opens.
		let sse: SseClient | undefined;
		for (let i = 0; i < 60 && !sse; i++) {
			sse = await SseClient.connect(server.origin, alice.client.cookie).catch(() => undefined);
			if (!sse || sse.status !== 200) {
				sse = undefined;
				await new Promise((resolve) => setTimeout(resolve, 500));
			}
		}
		expect(sse?.status).toBe(200);
		sse!.close();
		const ws = await WsClient.connect(server.origin, alice.client.cookie);
		ws.close();
		await ws.waitClosed();
	});
});
