import { afterAll, beforeAll, expect, test } from 'vitest';
import { ApiClient, describeEngines, startServer, uniqueName, WsClient, type TestServer } from './harness';

const PASSWORD = 'correct horse battery';
const LAPTOP = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36';
const PHONE = 'Mozilla/5.0 (Android 14; Mobile; rv:120.0) Gecko/120.0 Firefox/120.0';

/** One device of a user: its own cookie jar, signed in with its own User-Agent. */
async function device(origin: string, username: string, userAgent: string, password = PASSWORD) {
	const client = new ApiClient(origin);
	const res = await client.request('POST', '/api/auth/login', { username, password }, { headers: { 'user-agent': userAgent } });
	expect(res.status).toBe(200);
	return client;
}

async function account(origin: string) {
	const username = uniqueName();
	const first = new ApiClient(origin);
	expect((await first.post('/api/auth/register', { username, password: PASSWORD })).status).toBe(201);
	return username;
}

describeEngines('sessions and password change', (engine) => {
	let server: TestServer;
	beforeAll(async () => {
		server = await startServer({ engine });
	});
	afterAll(async () => {
		await server?.stop();
	});

	test('the sessions list names each device, puts this one first and never shows the cookie id', async () => {
		const username = await account(server.origin);
		const phone = await device(server.origin, username, PHONE);
		const laptop = await device(server.origin, username, LAPTOP);
		const res = await laptop.get('/api/sessions');
		expect(res.status).toBe(200);
		const sessions = res.body.sessions;
		// The registration's session is there too: three in all.
		expect(sessions).toHaveLength(3);
		expect(sessions[0]).toMatchObject({ current: true, userAgent: LAPTOP, device: 'Chrome on Windows', location: '127.0.0.x' });
		expect(sessions.filter((s: { current: boolean }) => s.current)).toHaveLength(1);
		expect(sessions.find((s: { userAgent: string }) => s.userAgent === PHONE)).toMatchObject({ device: 'Firefox on Android' });
		for (const s of sessions) {
			expect(Date.parse(s.createdAt)).not.toBeNaN();
			expect(Date.parse(s.lastActiveAt)).not.toBeNaN();
		}
		const lookupIds = [laptop.cookie, phone.cookie].map((c) => c!.split('=')[1].split('.')[0]);
		for (const id of lookupIds) expect(JSON.stringify(res.body)).not.toContain(id);
		// Stable per session.
		expect((await laptop.get('/api/sessions')).body.sessions.map((s: { id: string }) => s.id)).toEqual(
			sessions.map((s: { id: string }) => s.id)
		);
	});

	test('signing out one session ends it and closes its socket at once; another user’s is 404', async () => {
		const username = await account(server.origin);
		const phone = await device(server.origin, username, PHONE);
		const laptop = await device(server.origin, username, LAPTOP);
		const socket = await WsClient.connect(server.origin, phone.cookie);
		const phoneId = (await laptop.get('/api/sessions')).body.sessions.find((s: { userAgent: string }) => s.userAgent === PHONE).id;

		const stranger = await device(server.origin, await account(server.origin), LAPTOP);
		expect((await stranger.request('DELETE', `/api/sessions/${phoneId}`)).status).toBe(404);
		expect((await phone.get('/api/me')).status).toBe(200);

		expect((await laptop.request('DELETE', `/api/sessions/${phoneId}`)).status).toBe(204);
		await socket.waitClosed();
		expect((await phone.get('/api/me')).status).toBe(401);
		expect((await laptop.get('/api/me')).status).toBe(200);
		const again = await laptop.request('DELETE', `/api/sessions/${phoneId}`);
		expect(again.status).toBe(404);
		expect(again.body.error.code).toBe('not_found');
		expect((await laptop.request('DELETE', '/api/sessions/not-a-session')).status).toBe(404);
	});

	test('ending the current session by its id signs this device out', async () => {
		const username = await account(server.origin);
		const laptop = await device(server.origin, username, LAPTOP);
		const mine = (await laptop.get('/api/sessions')).body.sessions[0];
		expect(mine.current).toBe(true);
		expect((await laptop.request('DELETE', `/api/sessions/${mine.id}`)).status).toBe(204);
		expect(laptop.cookie).toBeUndefined();
	});

	test('"sign out all other devices" keeps only this one', async () => {
		const username = await account(server.origin);
		const phone = await device(server.origin, username, PHONE);
		const laptop = await device(server.origin, username, LAPTOP);
		const socket = await WsClient.connect(server.origin, phone.cookie);
		expect((await laptop.request('DELETE', '/api/sessions')).status).toBe(204);
		await socket.waitClosed();
		expect((await phone.get('/api/me')).status).toBe(401);
		const left = (await laptop.get('/api/sessions')).body.sessions;
		expect(left).toHaveLength(1);
		expect(left[0].current).toBe(true);
	});

	test('a password change ends every other session and its sockets; the new password works', async () => {
		const username = await account(server.origin);
		const phone = await device(server.origin, username, PHONE);
		const laptop = await device(server.origin, username, LAPTOP);
		const socket = await WsClient.connect(server.origin, phone.cookie);
		const mySocket = await WsClient.connect(server.origin, laptop.cookie);
		const newPassword = 'a new and longer passphrase';
		expect((await laptop.post('/api/auth/password', { currentPassword: PASSWORD, newPassword })).status).toBe(204);
		await socket.waitClosed();
		expect((await phone.get('/api/me')).status).toBe(401);
		expect((await laptop.get('/api/me')).status).toBe(200);
		expect(mySocket.closed).toBeUndefined();
		mySocket.close();
		const oldLogin = await new ApiClient(server.origin).post('/api/auth/login', { username, password: PASSWORD });
		expect(oldLogin.status).toBe(401);
		await device(server.origin, username, PHONE, newPassword);
	});

	test('a wrong current password is 403 and changes nothing; a weak new one is 400', async () => {
		const username = await account(server.origin);
		const phone = await device(server.origin, username, PHONE);
		const laptop = await device(server.origin, username, LAPTOP);
		const wrong = await laptop.post('/api/auth/password', { currentPassword: 'not the password', newPassword: 'another passphrase' });
		expect(wrong.status).toBe(403);
		expect(wrong.body.error.code).toBe('forbidden');
		const weak = await laptop.post('/api/auth/password', { currentPassword: PASSWORD, newPassword: 'short' });
		expect(weak.status).toBe(400);
		expect(weak.body.error.code).toBe('bad_request');
		expect((await phone.get('/api/me')).status).toBe(200);
		await device(server.origin, username, PHONE, PASSWORD);
	});

	test('without a session every one of these is 401', async () => {
		const anonymous = new ApiClient(server.origin);
		expect((await anonymous.get('/api/sessions')).status).toBe(401);
		expect((await anonymous.request('DELETE', '/api/sessions')).status).toBe(401);
		expect((await anonymous.request('DELETE', '/api/sessions/abc')).status).toBe(401);
		expect((await anonymous.post('/api/auth/password', { currentPassword: PASSWORD, newPassword: PASSWORD })).status).toBe(401);
	});
});

describeEngines('password change throttling', (engine) => {
	let server: TestServer;
	beforeAll(async () => {
		server = await startServer({ engine, env: { RATE_LIMIT: 'on' } });
	});
	afterAll(async () => {
		await server?.stop();
	});

	test('wrong current passwords are throttled like sign-in', async () => {
		const username = await account(server.origin);
		const laptop = await device(server.origin, username, LAPTOP);
		const answers = [];
		// Each failure doubles the wait, so however slow the machine a few tries meet it.
		for (let i = 0; i < 8 && answers.at(-1)?.status !== 429; i++) {
			answers.push(await laptop.post('/api/auth/password', { currentPassword: `wrong ${i}`, newPassword: 'another passphrase' }));
		}
		expect(answers[0].status).toBe(403);
		const limited = answers.at(-1)!;
		expect(limited.status).toBe(429);
		expect(limited.body.error.code).toBe('rate_limited');
	});
});
