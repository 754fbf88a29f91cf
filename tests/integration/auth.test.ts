import { afterAll, beforeAll, expect, test } from 'vitest';
import { ApiClient, describeEngines, startServer, uniqueName, type TestServer } from './harness';

const PASSWORD = 'correct horse battery';

describeEngines('auth API', (engine) => {
	let server: TestServer;
	beforeAll(async () => {
		server = await startServer({ engine });
	});
	afterAll(async () => {
		await server?.stop();
	});

	test('register sets an HttpOnly session cookie and /api/me returns the user', async () => {
		const client = new ApiClient(server.origin);
		const res = await client.post('/api/auth/register', { username: 'NewUser_' + uniqueName('').slice(1, 9), password: PASSWORD });
		expect(res.status).toBe(201);
		expect(res.body.user.username).toMatch(/^newuser_/);
		expect(typeof res.body.user.id).toBe('string');
		const cookie = res.headers.getSetCookie().find((c) => c.startsWith('session='))!;
		expect(cookie).toMatch(/HttpOnly/i);
		expect(cookie).toMatch(/SameSite=Lax/i);
		expect(cookie).toMatch(/Path=\//);
		expect(cookie).not.toMatch(/Secure/i); // the test ORIGIN is plain http
		const me = await client.get('/api/me');
		expect(me.status).toBe(200);
		expect(me.body.user).toEqual(res.body.user);
	});

	test('the session token carries at least 128 bits of secret', async () => {
		const client = new ApiClient(server.origin);
		await client.post('/api/auth/register', { username: uniqueName(), password: PASSWORD });
		const secret = client.cookie!.split('=')[1].split('.')[1];
		// base32: 5 bits per character
		expect(secret.length * 5).toBeGreaterThanOrEqual(128);
	});

	test('login with a wrong password and with an unknown user fail alike', async () => {
		const username = uniqueName();
		await new ApiClient(server.origin).post('/api/auth/register', { username, password: PASSWORD });
		const wrong = await new ApiClient(server.origin).post('/api/auth/login', { username, password: 'not the password' });
		const unknown = await new ApiClient(server.origin).post('/api/auth/login', { username: uniqueName(), password: PASSWORD });
		expect(wrong.status).toBe(401);
		expect(unknown.status).toBe(401);
		expect(wrong.body.error.code).toBe('unauthorized');
		expect(wrong.body).toEqual(unknown.body);
		const right = new ApiClient(server.origin);
		const ok = await right.post('/api/auth/login', { username, password: PASSWORD });
		expect(ok.status).toBe(200);
		expect((await right.get('/api/me')).body.user.username).toBe(username);
	});

	test('a taken username is 409 conflict, case-insensitively', async () => {
		const username = uniqueName();
		expect((await new ApiClient(server.origin).post('/api/auth/register', { username, password: PASSWORD })).status).toBe(201);
		const again = await new ApiClient(server.origin).post('/api/auth/register', { username: username.toUpperCase(), password: PASSWORD });
		expect(again.status).toBe(409);
		expect(again.body.error.code).toBe('conflict');
	});

	test('logout invalidates the session on the server: the old cookie stops working', async () => {
		const client = new ApiClient(server.origin);
		await client.post('/api/auth/register', { username: uniqueName(), password: PASSWORD });
		const stolen = client.cookie;
		const out = await client.post('/api/auth/logout');
		expect(out.status).toBe(204);
		expect(client.cookie).toBeUndefined();
		const replay = new ApiClient(server.origin);
		replay.cookie = stolen;
		const me = await replay.get('/api/me');
		expect(me.status).toBe(401);
		expect(me.body.error.code).toBe('unauthorized');
	});

	test('logout-everywhere ends every session of the user', async () => {
		const username = uniqueName();
		const laptop = new ApiClient(server.origin);
		await laptop.post('/api/auth/register', { username, password: PASSWORD });
		const phone = new ApiClient(server.origin);
		await phone.post('/api/auth/login', { username, password: PASSWORD });
		expect((await phone.get('/api/me')).status).toBe(200);
		expect((await laptop.post('/api/auth/logout-everywhere')).status).toBe(204);
		expect((await phone.get('/api/me')).status).toBe(401);
	});

	test('signing in again issues a new token (no session fixation)', async () => {
		const username = uniqueName();
		const client = new ApiClient(server.origin);
		await client.post('/api/auth/register', { username, password: PASSWORD });
		const before = client.cookie;
		await client.post('/api/auth/login', { username, password: PASSWORD });
		expect(client.cookie).not.toBe(before);
		const old = new ApiClient(server.origin);
		old.cookie = before;
		expect((await old.get('/api/me')).status).toBe(401);
	});

	test('bad bodies get the documented error and store nothing', async () => {
		const client = new ApiClient(server.origin);
		const username = uniqueName();
		const cases: Array<[string, Parameters<ApiClient['request']>, number, string]> = [
			['missing password', ['POST', '/api/auth/register', { username }], 400, 'bad_request'],
			['wrong types', ['POST', '/api/auth/register', { username: 42, password: ['x'] }], 400, 'bad_request'],
			['short password', ['POST', '/api/auth/register', { username, password: 'short' }], 400, 'bad_request'],
			['bad username', ['POST', '/api/auth/register', { username: 'no spaces!', password: PASSWORD }], 400, 'bad_request'],
			[
				'not JSON',
				['POST', '/api/auth/register', undefined, { raw: '{"username":', headers: { 'content-type': 'application/json' } }],
				400,
				'bad_request'
			],
			[
				'form body',
				[
					'POST',
					'/api/auth/register',
					undefined,
					{ raw: `username=${username}&password=x`, headers: { 'content-type': 'application/x-www-form-urlencoded' } }
				],
				415,
				'unsupported_media_type'
			],
			[
				'no content type',
				['POST', '/api/auth/register', undefined, { raw: JSON.stringify({ username, password: PASSWORD }) }],
				415,
				'unsupported_media_type'
			],
			[
				'1 MB body',
				[
					'POST',
					'/api/auth/register',
					undefined,
					{ raw: JSON.stringify({ username, password: 'x'.repeat(1024 * 1024) }), headers: { 'content-type': 'application/json' } }
				],
				413,
				'too_large'
			]
		];
		for (const [name, args, status, code] of cases) {
			const res = await client.request(...args);
			expect(res.status, name).toBe(status);
			expect(res.body.error.code, name).toBe(code);
			expect(typeof res.body.error.message, name).toBe('string');
		}
		// None of the attempts created the account: registering it now succeeds.
		expect((await client.post('/api/auth/register', { username, password: PASSWORD })).status).toBe(201);
	});

	test('cross-origin state changes are refused with 403, whatever the content type', async () => {
		const client = new ApiClient(server.origin);
		const username = uniqueName();
		for (const headers of [
			{ origin: 'https://evil.example', 'content-type': 'application/json' },
			{ origin: 'https://evil.example', 'content-type': 'text/plain' },
			{ origin: 'https://evil.example', 'content-type': 'application/x-www-form-urlencoded' }
		]) {
			const res = await client.request('POST', '/api/auth/register', undefined, {
				headers,
				raw: JSON.stringify({ username, password: PASSWORD })
			});
			expect(res.status).toBe(403);
			expect(res.body.error.code).toBe('forbidden');
		}
		const form = await client.request('POST', '/login', undefined, {
			headers: { origin: 'https://evil.example', 'content-type': 'application/x-www-form-urlencoded' },
			raw: `username=${username}&password=${PASSWORD}`
		});
		expect(form.status).toBe(403);
		expect((await client.post('/api/auth/register', { username, password: PASSWORD })).status).toBe(201);
	});

	test('endpoints that need a session answer 401 without one, and unknown API paths 404', async () => {
		const client = new ApiClient(server.origin);
		expect((await client.get('/api/me')).body.error.code).toBe('unauthorized');
		expect((await client.post('/api/auth/logout')).status).toBe(401);
		const missing = await client.get('/api/nope');
		expect(missing.status).toBe(404);
		expect(missing.body.error.code).toBe('not_found');
	});

	test('health and readiness', async () => {
		const client = new ApiClient(server.origin);
		expect((await client.get('/healthz')).body).toEqual({ status: 'ok' });
		expect((await client.get('/readyz')).status).toBe(200);
	});

	test('the login page is server-rendered and a signed-out visit to / redirects there', async () => {
		const client = new ApiClient(server.origin);
		const home = await client.get('/');
		expect(home.status).toBe(302);
		expect(home.headers.get('location')).toBe('/login');
		const login = await client.get<string>('/login');
		expect(login.status).toBe(200);
		expect(login.body).toContain('<form');
		expect(login.body).toContain('name="password"');
	});
});

describeEngines('login throttling', (engine) => {
	let server: TestServer;
	beforeAll(async () => {
		server = await startServer({ engine, env: { RATE_LIMIT: 'on' } });
	});
	afterAll(async () => {
		await server?.stop();
	});

	test('repeated failures for one username slow down and then get 429 with retry-after', async () => {
		const username = uniqueName();
		await new ApiClient(server.origin).post('/api/auth/register', { username, password: PASSWORD });
		const statuses: number[] = [];
		let retryAfter: string | null = null;
		for (let i = 0; i < 4; i++) {
			const res = await new ApiClient(server.origin).post('/api/auth/login', { username, password: 'wrong password' });
			statuses.push(res.status);
			if (res.status === 429) {
				retryAfter = res.headers.get('retry-after');
				expect(res.body.error.code).toBe('rate_limited');
			}
		}
		expect(statuses[0]).toBe(401);
		expect(statuses).toContain(429);
		expect(Number(retryAfter)).toBeGreaterThan(0);
		// Even the right password waits out the throttle: guessing cannot be sped up by luck.
		const right = await new ApiClient(server.origin).post('/api/auth/login', { username, password: PASSWORD });
		expect(right.status).toBe(429);
	});
});
