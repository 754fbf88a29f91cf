/**
 * The server's logs as an operator reads them: JSON lines (pino), failed requests logged with
 * their request id (the response's x-request-id, a proxy's own id kept), and never a message body,
 * a password, a cookie or a token, whatever was sent.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { signedInPair, startServer, WsClient, type TestServer } from './harness';

describe('logs', () => {
	let server: TestServer;
	beforeAll(async () => {
		server = await startServer({ engine: 'pglite', env: { LOG_LEVEL: 'debug' } });
	});
	afterAll(async () => {
		await server.stop();
	});

	const lines = () =>
		server
			.output()
			.split('\n')
			.filter((line) => line.startsWith('{'))
			.map((line) => JSON.parse(line));

	test('are JSON lines with a level, a time and a message', () => {
		const parsed = lines();
		expect(parsed.length).toBeGreaterThan(0);
		for (const line of parsed) {
			expect(typeof line.level).toBe('string');
			expect(typeof line.time).toBe('string');
			expect(typeof line.msg).toBe('string');
		}
		expect(parsed.some((line) => line.msg.startsWith('Listening on'))).toBe(true);
	});

	test('each request is logged once answered, with its id, which the response carries too', async () => {
		const response = await fetch(`${server.origin}/api/conversations/not-a-conversation`);
		expect(response.status).toBeGreaterThanOrEqual(400);
		const id = response.headers.get('x-request-id');
		expect(id).toMatch(/^[0-9a-f-]{36}$/);
		await expect
			.poll(() => lines().find((line) => line.reqId === id && line.msg === 'request'))
			.toMatchObject({ status: response.status, method: 'GET', path: '/api/conversations/not-a-conversation' });
		// A proxy's id is kept; a hostile one is replaced.
		const proxied = await fetch(`${server.origin}/healthz`, { headers: { 'x-request-id': 'edge-1234.abc' } });
		expect(proxied.headers.get('x-request-id')).toBe('edge-1234.abc');
		const hostile = await fetch(`${server.origin}/healthz`, { headers: { 'x-request-id': 'a"b}\\n'.repeat(20) } });
		expect(hostile.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
	});

	test('never hold a message body, a password, a cookie or a token', async () => {
		const { alice, bob, conversationId } = await signedInPair(server.origin);
		const ws = await WsClient.connect(server.origin, bob.client.cookie);
		const body = `body-that-must-not-be-logged-${crypto.randomUUID()}`;
		const sent = await alice.client.post('/api/messages', {
			id: crypto.randomUUID(),
			conversationId,
			clientId: crypto.randomUUID(),
			clientSeq: 1,
			body
		});
		expect(sent.status).toBe(200);
		await ws.waitFor((f) => f.type === 'message' && f.message.body === body);
		// Refused ones too: a wrong password, a malformed send with the text in it.
		const wrong = await fetch(`${server.origin}/api/auth/login`, {
			method: 'POST',
			headers: { origin: server.origin, 'content-type': 'application/json' },
			body: JSON.stringify({ username: alice.user.username, password: 'password-that-must-not-be-logged' })
		});
		expect(wrong.status).toBe(401);
		expect((await alice.client.post('/api/messages', { body, conversationId: 'nope' })).status).toBe(400);
		ws.close();
		await expect.poll(() => lines().filter((line) => line.msg === 'request' && line.status === 400).length).toBeGreaterThan(0);
		const output = server.output();
		expect(output).not.toContain(body);
		expect(output).not.toContain('password-that-must-not-be-logged');
		for (const person of [alice, bob]) {
			const token = person.client.cookie!.split('=')[1];
			expect(output).not.toContain(token);
			expect(output).not.toContain(token.split('.')[1]);
		}
	});
});
