/**
 * Accounts as docs/protocol.md "Registration, invites and the operator's command" describes them:
 * each REGISTRATION mode through the API and the no-JS form, invite codes (single use under a
 * race, refused alike whatever is wrong with them), deleting an account (what the peer sees, live
 * and on replay, and a deletion finished after a SIGKILL), and the admin command run as a child
 * process against the same database as the server.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import {
	ApiClient,
	createPostgresDatabase,
	describeEngines,
	freePort,
	signedInClient,
	signedInPair,
	startServer,
	uniqueName,
	WsClient,
	type EngineName,
	type Person,
	type TestServer
} from './harness';

const PASSWORD = 'correct horse battery';
const INVITE_REFUSED = 'That invite code is not valid. Ask for a new invite link.';

const register = (origin: string, body: Record<string, unknown>) => new ApiClient(origin).post('/api/auth/register', body);
const login = (origin: string, username: string, password = PASSWORD) =>
	new ApiClient(origin).post('/api/auth/login', { username, password });

/** A no-JS form POST, as a browser without JavaScript sends it. */
function postForm(client: ApiClient, path: string, fields: Record<string, string>) {
	return client.request('POST', path, undefined, {
		// A browser's own navigation; without `accept: text/html` SvelteKit answers as to use:enhance.
		headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
		raw: new URLSearchParams(fields).toString()
	});
}

function sender(person: Person, conversationId: string) {
	const clientId = randomUUID();
	let clientSeq = 0;
	return async (body: string, attachments?: string[]) => {
		const id = randomUUID();
		const res = await person.client.post('/api/messages', { id, conversationId, clientId, clientSeq: ++clientSeq, body, attachments });
		expect(res.status, JSON.stringify(res.body)).toBe(200);
		return id;
	};
}

async function upload(origin: string, person: Person, conversationId: string) {
	const form = new FormData();
	form.append('conversationId', conversationId);
	form.append('file', new Blob([new Uint8Array([1, 2, 3, 4])], { type: 'application/octet-stream' }), 'notes.bin');
	const response = await fetch(`${origin}/api/attachments`, {
		method: 'POST',
		headers: { origin, cookie: person.client.cookie! },
		body: form
	});
	expect(response.status).toBe(201);
	return ((await response.json()) as { attachment: { id: string } }).attachment.id;
}

async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000) {
	const deadline = Date.now() + timeoutMs;
	while (!(await condition())) {
		if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
		await new Promise((r) => setTimeout(r, 50));
	}
}

describeEngines('REGISTRATION=closed', (engine) => {
	let server: TestServer;
	beforeAll(async () => {
		server = await startServer({ engine, env: { REGISTRATION: 'closed' } });
	});
	afterAll(async () => {
		await server?.stop();
	});

	test('the API and the form refuse with 403 and create nothing; the page says so; invites are refused', async () => {
		const username = uniqueName('closed');
		const api = await register(server.origin, { username, password: PASSWORD });
		expect(api.status).toBe(403);
		expect(api.body.error.code).toBe('forbidden');
		const form = await postForm(new ApiClient(server.origin), '/register', { username, password: PASSWORD });
		expect(form.status).toBe(403);
		expect(form.headers.getSetCookie().some((c) => c.startsWith('session=') && !c.startsWith('session=;'))).toBe(false);
		expect((await login(server.origin, username)).status).toBe(401);
		const page = await new ApiClient(server.origin).get<string>('/register');
		expect(page.status).toBe(200);
		expect(page.body).toContain('Registration is closed');
		expect(page.body).toContain('href="/login"');
	});
});

describeEngines('REGISTRATION=invite', (engine) => {
	let server: TestServer;
	let inviter: Person;
	beforeAll(async () => {
		// The inviter comes from the admin command's code: nobody can register without one.
		const dir = engine === 'pglite' ? mkdtempSync(path.join(tmpdir(), 'duet-invite-')) : undefined;
		const port = await freePort();
		const databaseUrl = engine === 'postgres' ? await createPostgresDatabase() : '';
		const env = { REGISTRATION: 'invite', ...(dir ? { PGLITE_DIR: path.join(dir, 'pglite') } : {}) };
		const origin = `http://127.0.0.1:${port}`;
		const first = await admin(engine, { databaseUrl, env, origin }, ['invite']);
		expect(first.code, first.stderr).toBe(0);
		const code = /Invite code: (\S+)/.exec(first.stdout)![1];
		expect(first.stdout).toContain(`${origin}/register?invite=${code}`);
		server = await startServer({ engine, port, databaseUrl, env });
		inviter = await signedInWithCode(server.origin, code);
	});
	afterAll(async () => {
		await server?.stop();
	});

	async function signedInWithCode(origin: string, inviteCode: string): Promise<Person> {
		const client = new ApiClient(origin);
		const res = await client.post('/api/auth/register', { username: uniqueName('inv'), password: PASSWORD, inviteCode });
		expect(res.status, JSON.stringify(res.body)).toBe(201);
		return { client, user: res.body.user };
	}

	const newInvite = async () => {
		const res = await inviter.client.post('/api/invites');
		expect(res.status).toBe(201);
		return res.body.invite as { code: string; expiresAt: string; url: string };
	};

	test('POST /api/invites: a code of ≥ 80 bits, its expiry a week on, and its link on ORIGIN; signed out → 401', async () => {
		const invite = await newInvite();
		expect(invite.code).toMatch(/^[a-z2-7]{24}$/);
		expect(invite.url).toBe(`${server.origin}/register?invite=${invite.code}`);
		const week = Date.parse(invite.expiresAt) - Date.now();
		expect(week).toBeGreaterThan(7 * 24 * 3600_000 - 60_000);
		expect(week).toBeLessThanOrEqual(7 * 24 * 3600_000);
		expect((await new ApiClient(server.origin).post('/api/invites')).status).toBe(401);
	});

	test('no code, an unknown code and a used code are refused alike with 403; a code works once', async () => {
		const refusedWith = async (inviteCode: string | undefined) => {
			const res = await register(server.origin, { username: uniqueName('r'), password: PASSWORD, ...(inviteCode ? { inviteCode } : {}) });
			expect(res.status).toBe(403);
			expect(res.body.error.code).toBe('forbidden');
			return res.body.error.message as string;
		};
		expect(await refusedWith(undefined)).toMatch(/invite code/);
		expect(await refusedWith('aaaaaaaaaaaaaaaaaaaaaaaa')).toBe(INVITE_REFUSED);
		const { code } = await newInvite();
		await signedInWithCode(server.origin, code);
		expect(await refusedWith(code)).toBe(INVITE_REFUSED);
		// A taken username leaves the code unspent.
		const fresh = await newInvite();
		const taken = await register(server.origin, { username: inviter.user.username, password: PASSWORD, inviteCode: fresh.code });
		expect(taken.status).toBe(409);
		await signedInWithCode(server.origin, fresh.code);
	});

	test('many registrations racing for one code make exactly one account', async () => {
		const { code } = await newInvite();
		const names = Array.from({ length: 12 }, () => uniqueName('race'));
		const results = await Promise.all(names.map((username) => register(server.origin, { username, password: PASSWORD, inviteCode: code })));
		expect(results.map((r) => r.status).sort()).toEqual([201, ...Array(11).fill(403)]);
		const logins = await Promise.all(names.map((username) => login(server.origin, username)));
		expect(logins.filter((r) => r.status === 200)).toHaveLength(1);
	});

	test('the page has an invite field prefilled from ?invite=, and the form registers with it', async () => {
		const { code } = await newInvite();
		const page = await new ApiClient(server.origin).get<string>(`/register?invite=${code}`);
		expect(page.body).toContain('name="inviteCode"');
		expect(page.body).toContain(`value="${code}"`);
		const browser = new ApiClient(server.origin);
		const refused = await postForm(browser, '/register', { username: uniqueName('f'), password: PASSWORD, inviteCode: 'nope' });
		expect(refused.status).toBe(403);
		expect(refused.body).toContain(INVITE_REFUSED);
		const done = await postForm(browser, '/register', { username: uniqueName('f'), password: PASSWORD, inviteCode: code });
		expect(done.status).toBe(303);
		expect((await browser.get('/api/me')).status).toBe(200);
	});
});

describeEngines('REGISTRATION=open', (engine) => {
	let server: TestServer;
	beforeAll(async () => {
		server = await startServer({ engine });
	});
	afterAll(async () => {
		await server?.stop();
	});

	test('no code is needed (one given is ignored), and users cannot make invites', async () => {
		expect((await register(server.origin, { username: uniqueName('o'), password: PASSWORD, inviteCode: 'whatever' })).status).toBe(201);
		const { client } = await signedInClient(server.origin);
		const res = await client.post('/api/invites');
		expect(res.status).toBe(403);
		expect(res.body.error.code).toBe('forbidden');
	});

	test('deleting an account: the peer sees its messages deleted live and on replay, peer.deleted, files gone, sessions closed, the name never reused', async () => {
		const { alice, bob, conversationId } = await signedInPair(server.origin);
		const aliceSays = sender(alice, conversationId);
		const bobSays = sender(bob, conversationId);
		const file = await upload(server.origin, alice, conversationId);
		const sent = [await aliceSays('one'), await aliceSays('two', [file])];
		const bobs = await bobSays('from bob');
		expect((await alice.client.request('PUT', `/api/messages/${bobs}/reactions/${encodeURIComponent('👍')}`)).status).toBe(200);
		const unsent = await upload(server.origin, alice, conversationId);
		const bobWs = await WsClient.connect(server.origin, bob.client.cookie);
		const aliceWs = await WsClient.connect(server.origin, alice.client.cookie);

		expect((await alice.client.request('DELETE', '/api/me', { password: 'wrong password!' })).status).toBe(403);
		expect((await alice.client.request('DELETE', '/api/me', {})).status).toBe(400);
		const deleted = await alice.client.request('DELETE', '/api/me', { password: PASSWORD });
		expect(deleted.status).toBe(204);
		expect(alice.client.cookie).toBeUndefined();

		await aliceWs.waitClosed();
		expect(aliceWs.closed).toBeDefined();
		const updates = await bobWs.waitForCount((f) => f.type === 'message_updated', 3);
		for (const id of sent) expect(updates.find((f) => f.message.id === id)?.message.deletedAt).toBeTruthy();
		expect(updates.find((f) => f.message.id === bobs)?.message.reactions).toEqual([]);
		bobWs.close();

		const history = (await bob.client.get(`/api/conversations/${conversationId}/messages`)).body.messages as any[];
		expect(history.filter((m) => sent.includes(m.id)).every((m) => m.deletedAt && m.body === '' && m.attachments.length === 0)).toBe(true);
		expect(history.find((m) => m.id === bobs)).toMatchObject({ body: 'from bob', deletedAt: null });
		// From the start of Bob's log: the deletes are in it, after the sends they delete.
		const replay = await WsClient.connect(server.origin, bob.client.cookie, { cursor: '0' });
		await replay.waitFor((f) => f.type === 'message_updated' && f.message.id === sent[1] && f.message.deletedAt);
		replay.close();

		const peer = (await bob.client.get('/api/conversations')).body.conversations.find((c: any) => c.id === conversationId).peer;
		expect(peer).toMatchObject({ id: alice.user.id, deleted: true });
		// Nobody writes to a deleted account: the send is refused and not stored.
		const toDeleted = { id: randomUUID(), conversationId, clientId: randomUUID(), clientSeq: 1, body: 'anyone there?' };
		const refused = await bob.client.post('/api/messages', toDeleted);
		expect(refused.status).toBe(403);
		expect(refused.body.error.code).toBe('forbidden');
		const after = (await bob.client.get(`/api/conversations/${conversationId}/messages`)).body.messages as any[];
		expect(after.some((m) => m.id === toDeleted.id)).toBe(false);
		for (const id of [file, unsent])
			expect((await fetch(`${server.origin}/api/attachments/${id}`, { headers: { cookie: bob.client.cookie! } })).status).toBe(404);
		expect((await login(server.origin, alice.user.username)).status).toBe(401);
		expect((await register(server.origin, { username: alice.user.username, password: PASSWORD })).status).toBe(409);
		const carol = await signedInClient(server.origin);
		expect((await carol.client.get(`/api/users?q=${alice.user.username}`)).body.users).toEqual([]);
		expect((await carol.client.post('/api/conversations', { username: alice.user.username })).status).toBe(404);
		expect((await alice.client.request('DELETE', '/api/me', { password: PASSWORD })).status).toBe(401);
	});

	test('the no-JS delete form: wrong password re-renders with 403, the right one lands on sign-in with a notice', async () => {
		const { client, user } = await signedInClient(server.origin);
		expect((await postForm(client, '/settings/delete', { password: 'not my password' })).status).toBe(403);
		const done = await postForm(client, '/settings/delete', { password: PASSWORD });
		expect(done.status).toBe(303);
		expect(done.headers.get('location')).toBe('/login?deleted=1');
		expect((await client.get('/api/me')).status).toBe(401);
		expect((await login(server.origin, user.username)).status).toBe(401);
		expect((await new ApiClient(server.origin).get<string>('/login?deleted=1')).body).toContain('Your account was deleted.');
	});
});

describeEngines('an account deletion cut short by SIGKILL', (engine) => {
	let dir: string | undefined;
	let server: TestServer | undefined;
	afterEach(async () => {
		await server?.kill();
		if (dir) rmSync(dir, { recursive: true, force: true });
	});

	test('is finished by the next start: every message deleted, the account unusable meanwhile', async () => {
		dir = mkdtempSync(path.join(tmpdir(), 'duet-delete-'));
		const port = await freePort();
		const databaseUrl = engine === 'postgres' ? await createPostgresDatabase() : '';
		const env = { PGLITE_DIR: path.join(dir, 'pglite') };
		server = await startServer({ engine, port, databaseUrl, env });
		const { alice, bob, conversationId } = await signedInPair(server.origin);
		const total = 600;
		// Each its own client, so they need not wait for each other's clientSeq.
		for (let i = 0; i < total; i += 50) {
			await Promise.all(
				Array.from({ length: 50 }, (_, j) =>
					alice.client.post('/api/messages', { id: randomUUID(), conversationId, clientId: randomUUID(), clientSeq: 1, body: `m${i + j}` })
				)
			);
		}
		const bobWs = await WsClient.connect(server.origin, bob.client.cookie);
		const deletion = alice.client.request('DELETE', '/api/me', { password: PASSWORD }).catch(() => undefined);
		await bobWs.waitFor((f) => f.type === 'message_updated');
		await server.kill();
		await deletion;
		bobWs.close();
		server = await startServer({ engine, port, databaseUrl, env });
		expect((await login(server.origin, alice.user.username)).status).toBe(401);
		const remaining = async () => {
			const res = await bob.client.get(`/api/conversations/${conversationId}/messages?limit=100&after=0`);
			let left = res.body.messages.filter((m: any) => !m.deletedAt).length;
			let after = res.body.messages.at(-1)?.seq;
			let more = res.body.hasMore;
			while (more) {
				const page = await bob.client.get(`/api/conversations/${conversationId}/messages?limit=100&after=${after}`);
				left += page.body.messages.filter((m: any) => !m.deletedAt).length;
				after = page.body.messages.at(-1)?.seq;
				more = page.body.hasMore;
			}
			return left;
		};
		await until(async () => (await remaining()) === 0, 'every message of the deleted account to be deleted');
		const peer = (await bob.client.get('/api/conversations')).body.conversations[0].peer;
		expect(peer.deleted).toBe(true);
	}, 240_000);
});

interface Target {
	databaseUrl: string;
	env: Record<string, string>;
	origin: string;
}

/** `npm run admin -- …` as an operator runs it: its own process, the server's configuration. */
function admin(engine: EngineName, target: Target, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
	return new Promise((resolve) => {
		const child = spawn(process.execPath, ['build/admin.js', ...args], {
			env: {
				...process.env,
				...target.env,
				ORIGIN: target.origin,
				DATABASE_URL: engine === 'postgres' ? target.databaseUrl : '',
				RATE_LIMIT: 'off'
			},
			stdio: ['ignore', 'pipe', 'pipe']
		});
		let stdout = '';
		let stderr = '';
		child.stdout.on('data', (d) => (stdout += d));
		child.stderr.on('data', (d) => (stderr += d));
		child.once('exit', (code) => resolve({ code, stdout, stderr }));
	});
}

describeEngines('npm run admin', (engine) => {
	let dir: string | undefined;
	let server: TestServer | undefined;
	let target: Target;
	let port: number;
	afterEach(async () => {
		await server?.stop();
		server = undefined;
		if (dir) rmSync(dir, { recursive: true, force: true });
	});

	/** PGlite serves one process: there the server is stopped while the command runs, as documented. */
	async function run(args: string[]) {
		if (engine === 'pglite' && server) {
			await server.stop();
			server = undefined;
		}
		const result = await admin(engine, target, args);
		if (!server) server = await startServer({ engine, port, databaseUrl: target.databaseUrl, env: target.env });
		return result;
	}

	async function setUp() {
		dir = mkdtempSync(path.join(tmpdir(), 'duet-admin-'));
		port = await freePort();
		const databaseUrl = engine === 'postgres' ? await createPostgresDatabase() : '';
		target = { databaseUrl, env: { PGLITE_DIR: path.join(dir, 'pglite') }, origin: `http://127.0.0.1:${port}` };
		server = await startServer({ engine, port, databaseUrl, env: target.env });
	}

	test('reset-password: the link works once, ends every session, and signs this browser in', async () => {
		await setUp();
		const { client, user } = await signedInClient(server!.origin);
		const printed = await run(['reset-password', user.username]);
		expect(printed.code, printed.stderr).toBe(0);
		const link = new URL(/(http\S+\/reset\/\S+)/.exec(printed.stdout)![1]);
		expect(link.origin).toBe(target.origin);
		const browser = new ApiClient(server!.origin);
		expect((await browser.get<string>(link.pathname)).body).toContain('Choose a new password');
		const differ = await postForm(browser, link.pathname, { password: 'a new password', confirm: 'another one' });
		expect(differ.status).toBe(400);
		const done = await postForm(browser, link.pathname, { password: 'a new password', confirm: 'a new password' });
		expect(done.status).toBe(303);
		expect((await browser.get('/api/me')).body.user.id).toBe(user.id);
		expect((await client.get('/api/me')).status).toBe(401);
		expect((await login(server!.origin, user.username)).status).toBe(401);
		expect((await login(server!.origin, user.username, 'a new password')).status).toBe(200);
		const again = await postForm(new ApiClient(server!.origin), link.pathname, { password: 'third password', confirm: 'third password' });
		expect(again.status).toBe(403);
		expect((await new ApiClient(server!.origin).get<string>(link.pathname)).body).toContain('This link does not work');
		expect((await new ApiClient(server!.origin).get<string>('/reset/unknowntoken')).body).toContain('This link does not work');
	}, 240_000);

	test('disable ends the sessions (open sockets close) and blocks sign-in; enable restores it; list shows both', async () => {
		await setUp();
		const { client, user } = await signedInClient(server!.origin);
		const ws = engine === 'postgres' ? await WsClient.connect(server!.origin, client.cookie) : undefined;
		const disabled = await run(['disable', user.username]);
		expect(disabled.code, disabled.stderr).toBe(0);
		if (ws) {
			// Through the bus: the command's revocation reaches the running server's sockets.
			await ws.waitClosed(5000);
			expect(ws.closed).toBeDefined();
		}
		expect((await client.get('/api/me')).status).toBe(401);
		const refused = await login(server!.origin, user.username);
		expect(refused.status).toBe(403);
		expect(refused.body.error.message).toMatch(/disabled/);
		expect((await login(server!.origin, user.username, 'wrong password!')).status).toBe(401);
		const listed = await run(['list']);
		expect(listed.stdout).toMatch(new RegExp(`${user.username}\\s+\\S+\\s+\\S+\\s+disabled\\s+0`));
		expect((await run(['enable', user.username])).code).toBe(0);
		expect((await login(server!.origin, user.username)).status).toBe(200);
		expect((await run(['list'])).stdout).toMatch(new RegExp(`${user.username}\\s+\\S+\\s+\\S+\\s+active\\s+1`));
	}, 240_000);

	test('delete refuses without --yes when not on a terminal, deletes with it; unknown users and commands fail clearly', async () => {
		await setUp();
		const { alice, bob, conversationId } = await signedInPair(server!.origin);
		const id = await sender(alice, conversationId)('bye');
		const refused = await run(['delete', alice.user.username]);
		expect(refused.code).toBe(2);
		expect(refused.stderr).toMatch(/--yes/);
		expect((await login(server!.origin, alice.user.username)).status).toBe(200);
		const done = await run(['delete', alice.user.username, '--yes']);
		expect(done.code, done.stderr).toBe(0);
		expect((await login(server!.origin, alice.user.username)).status).toBe(401);
		await until(async () => (await bob.client.get(`/api/messages/${id}`)).body.message?.deletedAt != null, 'the message to be deleted');
		expect((await run(['list'])).stdout).toMatch(new RegExp(`${alice.user.username}\\s+\\S+\\s+\\S+\\s+deleted\\s+0`));
		const unknown = await run(['disable', 'nobody_here']);
		expect(unknown.code).toBe(1);
		expect(unknown.stderr).toMatch(/no account "nobody_here"/);
		expect((await run(['frobnicate'])).code).toBe(2);
		expect((await run(['invite', '--hours', 'soon'])).code).toBe(2);
	}, 240_000);
});

describe('REGISTRATION with a typo', () => {
	test('the server refuses to start, naming the variable and the choices', async () => {
		await expect(startServer({ engine: 'pglite', env: { REGISTRATION: 'invites' } })).rejects.toThrow(
			/REGISTRATION must be one of open, invite, closed, got \\?"invites\\?"/
		);
	});
});
