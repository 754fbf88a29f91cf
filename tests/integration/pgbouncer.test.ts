/**
 * The app behind a real PgBouncer in transaction mode (DATABASE_URL through it,
 * DATABASE_DIRECT_URL to PostgreSQL): it is really transaction pooling, where named prepared
 * statements break and the app's unnamed ones do not; many client connections share a few server
 * ones; the deadlines hold without session settings (a statement stuck behind a lock is ended on the
 * server, inside a transaction and outside one); and a database cut behind PgBouncer costs 503s,
 * not hangs, and is recovered from.
 */
import { randomUUID } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ApiClient, createPostgresDatabase, signedInClient, signedInPair, startServer, uniqueName, type TestServer } from './harness';
import { send } from './cluster';
import { startPgbouncer, usePgbouncer, type Pgbouncer } from './pgbouncer';
import { startTcpProxy, type TcpProxy } from './proxies';

const enabled = Boolean(process.env.TEST_DATABASE_URL) && usePgbouncer();
const suite = enabled ? describe : describe.skip;
const title = enabled
	? 'through PgBouncer in transaction mode'
	: 'through PgBouncer (skipped: needs TEST_DATABASE_URL and /usr/sbin/pgbouncer)';
const onnotice = () => {};
const SERVER_CONNECTIONS = 3;

suite(title, () => {
	let bouncer: Pgbouncer;
	beforeAll(async () => {
		bouncer = await startPgbouncer({ poolSize: SERVER_CONNECTIONS });
	});
	afterAll(async () => {
		await bouncer?.stop();
	});

	test('one client connection runs its transactions on whichever server session is free: a named prepared statement breaks, an unnamed one does not', async () => {
		expect((await bouncer.admin<{ key: string; value: string }>('show config')).find((c) => c.key === 'pool_mode')?.value).toBe(
			'transaction'
		);
		// A fresh database is a fresh pool: its first server session is the one the first query opens.
		const through = bouncer.url(await createPostgresDatabase());
		for (const prepare of [true, false]) {
			const a = postgres(through, { max: 1, prepare, onnotice });
			const b = postgres(through, { max: 1, onnotice });
			try {
				const [first] = await a`select pg_backend_pid() as pid, ${1}::int as n`;
				// B takes the only idle session, the one A's statement was prepared on, and keeps it.
				const held = await b.reserve();
				await held`begin`;
				const [taken] = await held`select pg_backend_pid() as pid`;
				const next = a.begin(async (tx) => (await tx`select pg_backend_pid() as pid, ${2}::int as n`)[0]);
				if (prepare) {
					expect(taken.pid).toBe(first.pid);
					// Another session, that never saw A's statement: the transaction fails.
					await expect(next).rejects.toMatchObject({ code: '26000' });
				} else {
					const row = (await next) as { pid: number };
					// Session pooling would have kept A on its first session.
					expect(row.pid).not.toBe(taken.pid);
				}
				await held`commit`;
				held.release();
			} finally {
				await Promise.all([a.end(), b.end()]);
			}
		}
	});

	describe('one instance through it', () => {
		let databaseUrl: string;
		let server: TestServer;
		beforeAll(async () => {
			databaseUrl = await createPostgresDatabase();
			server = await startServer({
				engine: 'postgres',
				databaseUrl: bouncer.url(databaseUrl),
				// Long enough that transactions wait behind the test's lock rather than end.
				env: { DATABASE_DIRECT_URL: databaseUrl, DATABASE_STATEMENT_TIMEOUT_MS: '60000' }
			});
		});
		afterAll(async () => {
			await server?.stop();
			expect(server?.output()).not.toContain('Unexpected error');
		});

		test(`more client connections than the ${SERVER_CONNECTIONS} server ones, every transaction done`, async () => {
			const direct = postgres(databaseUrl, { max: 1, onnotice });
			const origin = server.origin;
			const name = new URL(databaseUrl).pathname.slice(1);
			const waiting = async () =>
				Number(
					(await bouncer.admin<{ database: string; cl_waiting: string }>('show pools')).find((p) => p.database === name)?.cl_waiting ?? 0
				);
			const lock = await direct.reserve();
			try {
				// Sign-ups insert into users in a transaction: held behind this lock, each keeps a server
				// session, or waits in PgBouncer for one, until it is released.
				await lock`begin`;
				await lock`lock table users in exclusive mode`;
				const signups = Array.from({ length: SERVER_CONNECTIONS + 3 }, () =>
					new ApiClient(origin).post('/api/auth/register', { username: uniqueName(), password: 'correct horse battery' })
				);
				await expect.poll(waiting, { timeout: 30_000 }).toBeGreaterThan(0);
				const servers = (await bouncer.admin<{ database: string }>('show servers')).filter((s) => s.database === name);
				const clients = (await bouncer.admin<{ database: string }>('show clients')).filter((c) => c.database === name);
				expect(servers.length).toBeLessThanOrEqual(SERVER_CONNECTIONS);
				expect(clients.length).toBeGreaterThan(servers.length);
				await lock`commit`;
				for (const response of await Promise.all(signups)) expect(response.status).toBe(201);
			} finally {
				lock.release();
				await direct.end();
			}
			// And the ordinary traffic: a conversation, sends, a change, a search.
			const { alice, conversationId } = await signedInPair(origin);
			const clientId = randomUUID();
			for (let i = 1; i <= 5; i++) expect((await alice.client.post('/api/messages', send(conversationId, clientId, i))).status).toBe(200);
			const history = await alice.client.get(`/api/conversations/${conversationId}/messages`);
			expect(history.body.messages.map((m: any) => m.seq)).toEqual([1, 2, 3, 4, 5]);
			const edited = await alice.client.request('PATCH', `/api/messages/${history.body.messages[0].id}`, { body: 'edited' });
			expect(edited.status).toBe(200);
		});
	});

	test('deadlines without session settings: a statement stuck behind a lock is ended on the server, in a transaction and outside one', async () => {
		const databaseUrl = await createPostgresDatabase();
		const server = await startServer({
			engine: 'postgres',
			databaseUrl: bouncer.url(databaseUrl),
			env: { DATABASE_DIRECT_URL: databaseUrl }
		});
		const direct = postgres(databaseUrl, { max: 1, onnotice });
		const watcher = postgres(databaseUrl, { max: 1, onnotice });
		try {
			const person = await signedInClient(server.origin);
			const stuck = async () =>
				(
					await watcher<{ n: number }[]>`
						select count(*)::int as n from pg_stat_activity
						where datname = current_database() and wait_event_type = 'Lock' and pid <> pg_backend_pid()`
				)[0].n;
			await direct.begin(async (tx) => {
				await tx`lock table users in access exclusive mode`;
				// A sign-up's insert runs in a transaction (SET LOCAL statement_timeout); a sign-in's
				// read of users is a statement of its own (cancelled by the client at the deadline).
				const signup = await new ApiClient(server.origin).post('/api/auth/register', {
					username: uniqueName(),
					password: 'correct horse battery'
				});
				expect(signup.status).toBe(503);
				const signin = await new ApiClient(server.origin).post('/api/auth/login', {
					username: person.user.username,
					password: 'correct horse battery'
				});
				expect(signin.status).toBe(503);
				// Ended on the server, not only given up on by the client: nothing waits on the lock.
				await expect.poll(stuck, { timeout: 10_000 }).toBe(0);
			});
			const signin = await new ApiClient(server.origin).post('/api/auth/login', {
				username: person.user.username,
				password: 'correct horse battery'
			});
			expect(signin.status).toBe(200);
		} finally {
			await Promise.all([direct.end(), watcher.end()]);
			await server.stop();
			expect(server.output()).not.toContain('Unexpected error');
		}
	});

	test('a database cut behind PgBouncer answers 503 and is used again once restored', async () => {
		const base = new URL(process.env.TEST_DATABASE_URL!);
		const proxy: TcpProxy = await startTcpProxy(base.hostname, Number(base.port || 5432));
		const behind = await startPgbouncer({ target: { host: '127.0.0.1', port: proxy.port }, poolSize: 2 });
		const databaseUrl = await createPostgresDatabase();
		// Only the pool goes through the cut: the bus keeps its direct connections.
		const server = await startServer({
			engine: 'postgres',
			databaseUrl: behind.url(databaseUrl),
			env: { DATABASE_DIRECT_URL: databaseUrl }
		});
		try {
			const { alice, conversationId } = await signedInPair(server.origin);
			const clientId = randomUUID();
			expect((await alice.client.post('/api/messages', send(conversationId, clientId, 1))).status).toBe(200);
			proxy.cut();
			const during = await alice.client.post('/api/messages', send(conversationId, clientId, 2));
			expect(during.status).toBe(503);
			expect((await fetch(`${server.origin}/readyz`)).status).toBe(503);
			proxy.restore();
			await expect.poll(async () => (await fetch(`${server.origin}/readyz`)).status, { timeout: 20_000 }).toBe(200);
			expect((await alice.client.post('/api/messages', send(conversationId, clientId, 2))).status).toBe(200);
		} finally {
			await server.stop();
			await behind.stop();
			await proxy.close();
			expect(server.output()).not.toContain('Unexpected error');
		}
	});
});
