/**
 * Two production server processes on two ports against one real PostgreSQL: what a user on one
 * instance sends reaches a user on the other in real time and in order, one client's POSTs spread
 * over both commit in clientSeq order, clients survive an instance dying and the LISTEN connection
 * dropping, and typing, presence and sign-outs hold across instances. Their pools go through a
 * real PgBouncer in transaction mode (pgbouncer.ts), LISTEN/NOTIFY and migrations straight to
 * PostgreSQL (DATABASE_DIRECT_URL), as docs/scaling.md says to deploy it.
 */
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createPostgresDatabase, signedInPair, startServer, WsClient, type TestServer } from './harness';
import { Chatter, expectConverged, logged, on, send } from './cluster';
import { pgbouncerNote, startPgbouncer, usePgbouncer, type Pgbouncer } from './pgbouncer';

const enabled = Boolean(process.env.TEST_DATABASE_URL);
const suite = enabled ? describe : describe.skip;
const bounced = enabled && usePgbouncer();
const title = enabled
	? `two instances on one PostgreSQL${bounced ? ', pools through PgBouncer' : pgbouncerNote}`
	: 'two instances on one PostgreSQL (skipped: TEST_DATABASE_URL not set)';

// Long enough that one client's sends hopping between instances meet again by re-reading the
// database (every 500 ms) rather than by giving up on the gap.
const ENV = { GAP_TIMEOUT_MS: '15000', BUS_HEARTBEAT_MS: '3000' };

suite(title, () => {
	let databaseUrl: string;
	let bouncer: Pgbouncer | undefined;
	let one: TestServer;
	let two: TestServer;
	/** An instance of the deployment: its pool through PgBouncer when there is one. */
	const instance = (port?: number) =>
		startServer({
			engine: 'postgres',
			port,
			databaseUrl: bouncer ? bouncer.url(databaseUrl) : databaseUrl,
			env: bouncer ? { ...ENV, DATABASE_DIRECT_URL: databaseUrl } : ENV
		});

	beforeAll(async () => {
		databaseUrl = await createPostgresDatabase();
		// Fewer server connections than either instance's pool alone.
		if (bounced) bouncer = await startPgbouncer({ poolSize: 3 });
		// One after the other: the first applies the migrations.
		one = await instance();
		two = await instance();
	});
	afterAll(async () => {
		await Promise.all([one?.stop(), two?.stop()]);
		await bouncer?.stop();
	});

	test('a user on one instance receives, live and in order, what a user on the other sends', async () => {
		const { alice, bob, conversationId } = await signedInPair(one.origin, two.origin);
		const aliceWs = await WsClient.connect(one.origin, alice.client.cookie);
		const bobWs = await WsClient.connect(two.origin, bob.client.cookie);
		const clientId = randomUUID();
		const sent = Array.from({ length: 20 }, (_, i) => send(conversationId, clientId, i + 1, `from one #${i + 1}`));
		for (const message of sent) aliceWs.send({ type: 'send', ...message });

		const received = await bobWs.waitForCount((f) => f.type === 'message', 20);
		expect(received.map((f) => f.message.id)).toEqual(sent.map((m) => m.id));
		expect(received.map((f) => f.message.seq)).toEqual(sent.map((_, i) => i + 1));
		const cursors = received.map((f) => Number(f.cursor));
		expect(cursors).toEqual([...cursors].sort((a, b) => a - b));
		expect(new Set(cursors).size).toBe(cursors.length);

		// And back the other way, while the sender's own devices on its instance see it too.
		const reply = send(conversationId, randomUUID(), 1, 'from two');
		bobWs.send({ type: 'send', ...reply });
		const got = await aliceWs.waitFor((f) => f.type === 'message' && f.message.id === reply.id);
		expect(got.message.seq).toBe(21);
		await bobWs.waitFor((f) => f.type === 'message' && f.message.id === reply.id);
		aliceWs.close();
		bobWs.close();
	});

	test('typing crosses instances', async () => {
		const { alice, bob, conversationId } = await signedInPair(one.origin, two.origin);
		const bobWs = await WsClient.connect(two.origin, bob.client.cookie);
		expect((await alice.client.post('/api/typing', { conversationId })).status).toBe(204);
		const typing = await bobWs.waitFor((f) => f.type === 'typing');
		expect(typing).toMatchObject({ conversationId, userId: alice.user.id });
		bobWs.close();
	});

	test("signing out on one instance closes that session's sockets on the other, and the other refuses it at once", async () => {
		const { alice, conversationId } = await signedInPair(one.origin, two.origin);
		const aliceWs = await WsClient.connect(one.origin, alice.client.cookie);
		// Instance one has just proved this cookie, and keeps the session in its cache.
		expect((await on(one, alice).post('/api/messages', send(conversationId, randomUUID(), 1))).status).toBe(200);
		expect((await on(two, alice).post('/api/auth/logout')).status).toBe(204);
		expect((await aliceWs.waitClosed()).code).toBe(4001);
		// The same note that closed the socket made one forget the session.
		expect((await on(one, alice).post('/api/messages', send(conversationId, randomUUID(), 1))).status).toBe(401);
		expect((await on(one, alice).get(`/api/conversations/${conversationId}/messages`)).status).toBe(401);
	});

	test("one client's POSTs spread over both instances, clientSeq shuffled, commit in clientSeq order", async () => {
		const { alice, conversationId } = await signedInPair(one.origin, two.origin);
		const clientId = randomUUID();
		const order = [5, 2, 8, 1, 7, 3, 6, 4];
		const messages = new Map(order.map((n) => [n, send(conversationId, clientId, n)]));
		const responses = await Promise.all(order.map((n, i) => on(i % 2 === 0 ? one : two, alice).post('/api/messages', messages.get(n))));
		for (const response of responses) expect(response.status).toBe(200);
		const history = await on(two, alice).get(`/api/conversations/${conversationId}/messages`);
		expect(history.body.messages.map((m: any) => m.clientSeq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
		expect(history.body.messages.map((m: any) => m.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
	});

	test('presence holds across instances', async () => {
		const { alice, bob, conversationId } = await signedInPair(one.origin, two.origin);
		const aliceOnOne = await WsClient.connect(one.origin, alice.client.cookie);
		// Bob connects later, on the other instance, and is still told that Alice is online.
		const bobWs = await WsClient.connect(two.origin, bob.client.cookie);
		const initial = await bobWs.waitFor((f) => f.type === 'presence' && f.userId === alice.user.id);
		expect(initial.online).toBe(true);

		// Alice opens a second connection, on Bob's instance. Instance two's notes reach instance one
		// in order, so once her typing (sent after she connected) shows on Bob's socket on instance
		// one, instance one knows she is connected to instance two.
		const aliceOnTwo = await WsClient.connect(two.origin, alice.client.cookie);
		const bobOnOne = await WsClient.connect(one.origin, bob.client.cookie);
		expect((await on(two, alice).post('/api/typing', { conversationId })).status).toBe(204);
		await bobOnOne.waitFor((f) => f.type === 'typing' && f.userId === alice.user.id);
		bobOnOne.close();

		// Closing her first connection must not read as "offline"; closing the last one must.
		aliceOnOne.close();
		await aliceOnOne.waitClosed();
		const beforeLastClose = bobWs.frames.length;
		aliceOnTwo.close();
		await bobWs.waitFor((f) => f.type === 'presence' && f.userId === alice.user.id && f.online === false);
		const isAlice = (f: any) => f.type === 'presence' && f.userId === alice.user.id;
		expect(
			bobWs.frames
				.slice(0, beforeLastClose)
				.filter(isAlice)
				.every((f) => f.online)
		).toBe(true);
		bobWs.close();
	});

	test('users of an instance that stops and who do not come back are shown offline elsewhere', async () => {
		const { alice, bob } = await signedInPair(one.origin, two.origin);
		const four = await instance();
		try {
			const bobWs = await WsClient.connect(one.origin, bob.client.cookie);
			const aliceWs = await WsClient.connect(four.origin, alice.client.cookie);
			const isAlice = (f: any) => f.type === 'presence' && f.userId === alice.user.id;
			await bobWs.waitFor((f) => isAlice(f) && f.online);
			const mark = bobWs.frames.length;
			const stopped = four.stop();
			expect((await aliceWs.waitClosed()).code).toBe(1001);
			expect(await stopped).toBe(0);
			const later = (f: any) => bobWs.frames.indexOf(f) >= mark;
			const offline = await bobWs.waitFor((f) => later(f) && isAlice(f) && !f.online, 20_000);
			expect(offline.lastSeenAt).not.toBeNull();
			bobWs.close();
		} finally {
			await four.stop();
		}
	});

	test('after the LISTEN connection drops, what the other instance sends still arrives', async () => {
		const { alice, bob, conversationId } = await signedInPair(one.origin, two.origin);
		const bobWs = await WsClient.connect(one.origin, bob.client.cookie);
		const admin = postgres(databaseUrl, { max: 1, onnotice: () => {} });
		try {
			const killed = await admin<{ ok: boolean }[]>`
				select pg_terminate_backend(pid) as ok from pg_stat_activity
				where datname = current_database() and application_name = 'duet-listen'`;
			// Instances one and two (a stopped instance's backend may still be on its way out).
			expect(killed.length).toBeGreaterThanOrEqual(2);
		} finally {
			await admin.end();
		}
		// Sent right away: whether its notification beats the reconnect or is lost and made up by the
		// resync, it must arrive (the next test makes the loss certain).
		const message = send(conversationId, randomUUID(), 1, 'after the drop');
		expect((await on(two, alice).post('/api/messages', message)).status).toBe(200);
		await bobWs.waitFor((f) => f.type === 'message' && f.message.id === message.id);

		// Once reconnected, live delivery goes on as before.
		await logged(one, 'LISTEN connection re-established');
		const later = send(conversationId, randomUUID(), 1, 'live again');
		expect((await on(two, alice).post('/api/messages', later)).status).toBe(200);
		await bobWs.waitFor((f) => f.type === 'message' && f.message.id === later.id);
		bobWs.close();
	});

	test('an instance cut off from the database catches up on what was sent meanwhile', async () => {
		const { alice, bob, conversationId } = await signedInPair(one.origin, two.origin);
		const proxy = await cuttableProxy(new URL(databaseUrl));
		const viaProxy = new URL(databaseUrl);
		viaProxy.port = String(proxy.port);
		// Straight to PostgreSQL through the relay, pool and LISTEN alike, so the cut reaches both.
		const three = await startServer({ engine: 'postgres', databaseUrl: viaProxy.toString(), env: ENV });
		try {
			const bobOnThree = await WsClient.connect(three.origin, bob.client.cookie);
			const bobOnTwo = await WsClient.connect(two.origin, bob.client.cookie);
			const warmUp = send(conversationId, randomUUID(), 1, 'before');
			expect((await alice.client.post('/api/messages', warmUp)).status).toBe(200);
			await bobOnThree.waitFor((f) => f.type === 'message' && f.message.id === warmUp.id);

			proxy.cut();
			const missed = send(conversationId, randomUUID(), 1, 'while instance three was cut off');
			expect((await alice.client.post('/api/messages', missed)).status).toBe(200);
			// Instance two got the notification, so it has been sent and instance three missed it.
			await bobOnTwo.waitFor((f) => f.type === 'message' && f.message.id === missed.id);
			proxy.restore();

			// Nothing else is sent: only the resync after the LISTEN reconnect can bring it.
			await bobOnThree.waitFor((f) => f.type === 'message' && f.message.id === missed.id, 30_000);
			await logged(three, 'LISTEN connection re-established');
			expect(bobOnThree.frames.filter((f) => f.type === 'message' && f.message.id === missed.id)).toHaveLength(1);
			bobOnThree.close();
			bobOnTwo.close();
		} finally {
			await three.stop();
			proxy.close();
		}
	});

	test('an instance killed mid-chat: its clients resume on the other, nothing lost or doubled', async () => {
		const { alice, bob, conversationId } = await signedInPair(one.origin, two.origin);
		const a = new Chatter(alice, conversationId);
		const b = new Chatter(bob, conversationId);
		await a.connect(one);
		await b.connect(two);
		const rounds = 30;
		let restarted: TestServer | undefined;
		try {
			for (let i = 1; i <= rounds; i++) {
				a.say(`alice ${i}`);
				b.say(`bob ${i}`);
				if (i === 10) {
					// Bob's instance dies without a word; a few of his sends may be unacked.
					await two.kill();
					await b.ws!.waitClosed();
					await b.connect(one);
				}
				if (i === 20) {
					// It comes back on the same port; Alice moves over to it.
					restarted = await instance(two.port);
					a.ws!.close();
					await a.ws!.waitClosed();
					await a.connect(restarted);
				}
				await a.waitForMessages(2 * i);
			}
			const stored = await expectConverged(one, [a, b], conversationId, 2 * rounds);
			// Each person's messages were stored in the order they were written.
			for (const name of ['alice', 'bob']) {
				const bodies = stored.map((m) => m.body).filter((body: string) => body.startsWith(name));
				expect(bodies).toEqual(Array.from({ length: rounds }, (_, i) => `${name} ${i + 1}`));
			}
		} finally {
			a.ws?.close();
			b.ws?.close();
			if (restarted) two = restarted;
		}
	});
});

/** A TCP relay to PostgreSQL that can drop every connection and refuse new ones for a while. */
async function cuttableProxy(target: URL) {
	const sockets = new Set<net.Socket>();
	let open = true;
	const server = net.createServer((client) => {
		if (!open) return void client.destroy();
		const upstream = net.connect(Number(target.port || 5432), target.hostname);
		for (const [a, b] of [
			[client, upstream],
			[upstream, client]
		]) {
			sockets.add(a);
			a.on('error', () => b.destroy()).on('close', () => (b.destroy(), sockets.delete(a)));
			a.pipe(b);
		}
	});
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	return {
		port: (server.address() as net.AddressInfo).port,
		cut() {
			open = false;
			for (const socket of sockets) socket.destroy();
		},
		restore() {
			open = true;
		},
		close() {
			for (const socket of sockets) socket.destroy();
			server.close();
		}
	};
}
