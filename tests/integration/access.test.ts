/**
 * Who may do what: every endpoint and frame type tried as a member, a non-member and a signed-out
 * client; session and cookie hygiene; security headers; per-user limits.
 */
import { randomUUID } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ApiClient, describeEngines, signedInClient, SseClient, startServer, WsClient, type TestServer } from './harness';

describeEngines('access control matrix', (engine) => {
	let server: TestServer;
	beforeAll(async () => {
		server = await startServer({ engine, env: { SESSION_RECHECK_MS: '300' } });
	});
	afterAll(async () => {
		await server?.stop();
	});

	test('member, non-member and signed-out on every endpoint', async () => {
		const member = await signedInClient(server.origin);
		const peer = await signedInClient(server.origin);
		const outsider = await signedInClient(server.origin);
		const anonymous = new ApiClient(server.origin);
		const stranger = await signedInClient(server.origin);
		const conversationId = (await member.client.post('/api/conversations', { username: peer.user.username })).body.conversation.id;
		await member.client.post('/api/messages', { id: randomUUID(), conversationId, clientId: randomUUID(), clientSeq: 1, body: 'hi' });

		type Call = [string, string, (() => unknown) | undefined, number, number];
		// [method, path, body, member status, non-member status]; signed-out is always 401.
		const calls: Call[] = [
			['GET', '/api/me', undefined, 200, 200],
			['GET', '/api/users?q=a', undefined, 200, 200],
			['GET', '/api/conversations', undefined, 200, 200],
			['GET', `/api/conversations/${conversationId}/messages`, undefined, 200, 404],
			['GET', '/api/events', undefined, 200, 200],
			['POST', '/api/messages', () => ({ id: randomUUID(), conversationId, clientId: randomUUID(), clientSeq: 1, body: 'x' }), 200, 404],
			['POST', '/api/receipts', () => ({ conversationId, seq: 1, status: 'read' }), 204, 404],
			['POST', '/api/typing', () => ({ conversationId }), 204, 404],
			['DELETE', '/api/typing', () => ({ conversationId }), 204, 404],
			['POST', '/api/conversations', () => ({ username: peer.user.username }), 200, 200],
			['PATCH', `/api/conversations/${conversationId}`, () => ({ muted: true }), 200, 404],
			// Anyone signed in may block anyone (a stranger here, so the sends above stay allowed).
			['POST', '/api/blocks', () => ({ username: stranger.user.username }), 204, 204],
			['GET', '/api/blocks', undefined, 200, 200],
			['DELETE', `/api/blocks/${stranger.user.id}`, undefined, 204, 204],
			// REGISTRATION=open here: nobody makes invites (tests/integration/accounts.test.ts covers invite).
			['POST', '/api/invites', undefined, 403, 403],
			// The wrong password: the right one would delete the account (accounts.test.ts).
			['DELETE', '/api/me', () => ({ password: 'not the password' }), 403, 403],
			['GET', '/api/sessions', undefined, 200, 200],
			['GET', '/api/me/settings', undefined, 200, 200],
			['PATCH', '/api/me/settings', () => ({ readReceipts: true }), 200, 200],
			['GET', '/api/me/export', undefined, 200, 200],
			['POST', '/api/auth/password', () => ({ currentPassword: 'not the password', newPassword: 'a new passphrase' }), 403, 403],
			['DELETE', '/api/sessions/x', undefined, -1, -1], // checked separately below
			['DELETE', '/api/sessions', undefined, -1, -1],
			['POST', '/api/auth/logout-everywhere', undefined, -1, -1], // checked separately below
			['POST', '/api/auth/logout', undefined, -1, -1]
		];
		for (const [method, path, body, memberStatus, outsiderStatus] of calls) {
			const anon =
				path === '/api/events' ? await SseClient.connect(server.origin, undefined) : await anonymous.request(method, path, body?.());
			expect(anon.status, `${method} ${path} signed out`).toBe(401);
			if (memberStatus < 0) continue;
			if (path === '/api/events') {
				for (const [who, expected] of [
					[member, memberStatus],
					[outsider, outsiderStatus]
				] as const) {
					const sse = await SseClient.connect(server.origin, who.client.cookie);
					expect(sse.status).toBe(expected);
					sse.close();
				}
				continue;
			}
			expect((await member.client.request(method, path, body?.())).status, `${method} ${path} member`).toBe(memberStatus);
			const asOutsider = await outsider.client.request(method, path, body?.());
			expect(asOutsider.status, `${method} ${path} non-member`).toBe(outsiderStatus);
		}
		// Another's session is 404 to the outsider and stays; to its owner it ends, as do all others.
		const phone = new ApiClient(server.origin);
		await phone.post('/api/auth/login', { username: member.user.username, password: 'correct horse battery' });
		const tablet = new ApiClient(server.origin);
		await tablet.post('/api/auth/login', { username: member.user.username, password: 'correct horse battery' });
		const others = (await member.client.get('/api/sessions')).body.sessions.filter((s: any) => !s.current);
		expect(others).toHaveLength(2);
		expect((await outsider.client.request('DELETE', `/api/sessions/${others[0].id}`)).status).toBe(404);
		expect((await outsider.client.request('DELETE', '/api/sessions')).status).toBe(204);
		expect((await phone.get('/api/me')).status).toBe(200);
		expect((await tablet.get('/api/me')).status).toBe(200);
		expect((await member.client.request('DELETE', `/api/sessions/${others[0].id}`)).status).toBe(204);
		expect((await member.client.request('DELETE', '/api/sessions')).status).toBe(204);
		expect((await phone.get('/api/me')).status).toBe(401);
		expect((await tablet.get('/api/me')).status).toBe(401);
		expect((await member.client.get('/api/me')).status).toBe(200);

		// The outsider's own conversation with the peer is a different one, and holds nothing of ours.
		const theirs = (await outsider.client.get('/api/conversations')).body.conversations;
		expect(theirs.map((c: any) => c.id)).not.toContain(conversationId);
		expect(theirs.every((c: any) => c.lastMessage === null)).toBe(true);

		// Frames over the socket: the non-member gets not_found for each and no events.
		const ws = await WsClient.connect(server.origin, outsider.client.cookie);
		ws.send({ type: 'send', id: randomUUID(), conversationId, clientId: randomUUID(), clientSeq: 1, body: 'x' });
		ws.send({ type: 'receipt', conversationId, seq: 1, status: 'read' });
		ws.send({ type: 'typing', conversationId });
		ws.send({ type: 'typing_stopped', conversationId });
		const errors = await ws.waitForCount((f) => f.type === 'error', 4);
		expect(errors.map((e) => e.code)).toEqual(['not_found', 'not_found', 'not_found', 'not_found']);
		ws.close();
		await expect(WsClient.connect(server.origin, undefined)).rejects.toMatchObject({ status: 401 });
	});

	test('an expired or deleted session closes long-lived connections on the next periodic check', async () => {
		const { client } = await signedInClient(server.origin);
		const ws = await WsClient.connect(server.origin, client.cookie);
		const sse = await SseClient.connect(server.origin, client.cookie);
		// Delete the session behind the server's back (as an expiry sweep or another instance would).
		const sessionId = client.cookie!.split('=')[1].split('.')[0];
		if (engine === 'postgres') {
			const sql = postgres(server.databaseUrl, { max: 1, onnotice: () => {} });
			await sql`delete from sessions where id = ${sessionId}`;
			await sql.end();
		} else {
			// PGlite is private to the server process: end the session through the API instead,
			// from a second client holding the same cookie, without a bus note for this stream
			// being the only way it closes (the periodic check also covers it).
			const twin = new ApiClient(server.origin);
			twin.cookie = client.cookie;
			await twin.post('/api/auth/logout');
		}
		expect((await ws.waitClosed()).code).toBe(4001);
		await sse.waitUntil(() => sse.ended);
	});
});

describeEngines('cookies, headers and limits', (engine) => {
	let server: TestServer;
	beforeAll(async () => {
		server = await startServer({
			engine,
			// One token a minute: six sends cannot earn a sixth token back however slowly a loaded machine runs them.
			env: { RATE_LIMIT: 'on', SEND_BURST: '5', SEND_RATE_PER_MINUTE: '1', MAX_CONNECTIONS_PER_USER: '3' }
		});
	});
	afterAll(async () => {
		await server?.stop();
	});

	test('pages carry a strict CSP with nonces, and the usual hardening headers', async () => {
		const res = await fetch(`${server.origin}/login`);
		const csp = res.headers.get('content-security-policy') ?? '';
		expect(csp).toContain("default-src 'self'");
		expect(csp).toContain("frame-ancestors 'none'");
		expect(csp).toContain("object-src 'none'");
		expect(csp).toMatch(/script-src 'self' 'nonce-[^']+'/);
		expect(csp).not.toMatch(/script-src[^;]*unsafe-inline/);
		expect(res.headers.get('x-content-type-options')).toBe('nosniff');
		expect(res.headers.get('referrer-policy')).toBe('same-origin');
		expect(res.headers.get('x-frame-options')).toBe('DENY');
	});

	test('per-user send rate limit: 429 with retry-after over HTTP, an error frame over WebSocket', async () => {
		const alice = await signedInClient(server.origin);
		const bob = await signedInClient(server.origin);
		const conversationId = (await alice.client.post('/api/conversations', { username: bob.user.username })).body.conversation.id;
		const clientId = randomUUID();
		const statuses: number[] = [];
		let retryAfter: string | null = null;
		for (let i = 1; i <= 6; i++) {
			const res = await alice.client.post('/api/messages', { id: randomUUID(), conversationId, clientId, clientSeq: i, body: `m${i}` });
			statuses.push(res.status);
			if (res.status === 429) retryAfter = res.headers.get('retry-after');
		}
		expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
		expect(Number(retryAfter)).toBeGreaterThan(0);
		const ws = await WsClient.connect(server.origin, alice.client.cookie);
		ws.send({ type: 'send', id: randomUUID(), conversationId, clientId, clientSeq: 6, body: 'again' });
		const error = await ws.waitFor((f) => f.type === 'error');
		expect(error.code).toBe('rate_limited');
		expect(error.retryAfter).toBeGreaterThan(0);
		ws.close();
	});

	test('connections per user are capped (WebSocket and SSE together)', async () => {
		const { client } = await signedInClient(server.origin);
		const open = [await WsClient.connect(server.origin, client.cookie), await WsClient.connect(server.origin, client.cookie)];
		const sse = await SseClient.connect(server.origin, client.cookie);
		await expect(WsClient.connect(server.origin, client.cookie)).rejects.toMatchObject({ status: 429 });
		const refused = await SseClient.connect(server.origin, client.cookie);
		expect(refused.status).toBe(429);
		open[0].close();
		await open[0].waitClosed();
		// A slot frees up when a connection closes.
		await expect
			.poll(async () => {
				try {
					const ws = await WsClient.connect(server.origin, client.cookie);
					ws.close();
					return true;
				} catch {
					return false;
				}
			})
			.toBe(true);
		open[1].close();
		sse.close();
	});
});

describe('cookies in production behind https', () => {
	let server: TestServer;
	beforeAll(async () => {
		const { freePort } = await import('./harness');
		const port = await freePort();
		server = await startServer({ engine: 'pglite', port, env: { ORIGIN: `https://127.0.0.1:${port}` } });
	});
	afterAll(async () => {
		await server?.stop();
	});

	test('the session cookie is Secure, HttpOnly and SameSite=Lax when ORIGIN is https', async () => {
		const res = await fetch(`${server.origin}/api/auth/register`, {
			method: 'POST',
			headers: { 'content-type': 'application/json', origin: `https://127.0.0.1:${server.port}` },
			body: JSON.stringify({ username: `sec_${randomUUID().slice(0, 8)}`, password: 'correct horse battery' })
		});
		expect(res.status).toBe(201);
		const cookie = res.headers.getSetCookie().find((c) => c.startsWith('session='))!;
		expect(cookie).toMatch(/; Secure/);
		expect(cookie).toMatch(/; HttpOnly/);
		expect(cookie).toMatch(/; SameSite=Lax/);
	});
});
