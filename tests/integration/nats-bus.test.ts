/**
 * Three production server processes on one PostgreSQL with the NATS bus (BUS_URL) on the
 * machine's real nats-server, clients spread over them: sends, receipts, typing, presence, changes,
 * new conversations and sign-outs cross instances; the bus cut (reset and blackholed) and restored
 * mid-burst loses nothing acked and everyone converges; an instance killed mid-chat costs nothing.
 * Their pools go through a real PgBouncer in transaction mode (pgbouncer.ts).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createPostgresDatabase, signedInClient, signedInPair, startServer, WsClient, type TestServer } from './harness';
import { Chatter, expectConverged, logged, on, send } from './cluster';
import { pgbouncerNote, startPgbouncer, usePgbouncer, type Pgbouncer } from './pgbouncer';
import { startTcpProxy, type TcpProxy } from './proxies';

const enabled = Boolean(process.env.TEST_DATABASE_URL);
const suite = enabled ? describe : describe.skip;
const bounced = enabled && usePgbouncer();
const NATS = new URL(process.env.TEST_NATS_URL ?? 'nats://127.0.0.1:4222');

suite(`three instances on the NATS bus${bounced ? ', pools through PgBouncer' : pgbouncerNote}`, () => {
	let databaseUrl: string;
	let bouncer: Pgbouncer | undefined;
	/** An instance: its pool through PgBouncer when there is one, the migrations straight to PostgreSQL. */
	const instance = (env: Record<string, string>, port?: number) =>
		startServer({
			engine: 'postgres',
			port,
			databaseUrl: bouncer ? bouncer.url(databaseUrl) : databaseUrl,
			env: bouncer ? { ...env, DATABASE_DIRECT_URL: databaseUrl } : env
		});
	let natsProxy: TcpProxy;
	let one: TestServer;
	let two: TestServer;
	let three: TestServer;
	// Subjects of this file's own, so other test runs on the same nats-server stay out of it.
	const env = { GAP_TIMEOUT_MS: '15000', BUS_HEARTBEAT_MS: '2000', BUS_URL: NATS.href, BUS_SUBJECT_PREFIX: `t${randomUUID().slice(0, 8)}` };

	beforeAll(async () => {
		databaseUrl = await createPostgresDatabase();
		if (bounced) bouncer = await startPgbouncer({ poolSize: 3 });
		// Instance three reaches NATS through a relay the tests can cut.
		natsProxy = await startTcpProxy(NATS.hostname, Number(NATS.port || 4222));
		one = await instance(env);
		[two, three] = await Promise.all([instance(env), instance({ ...env, BUS_URL: `nats://127.0.0.1:${natsProxy.port}` })]);
	});
	afterAll(async () => {
		await Promise.all([one?.stop(), two?.stop(), three?.stop()]);
		await natsProxy?.close();
		await bouncer?.stop();
		for (const server of [one, two, three]) expect(server.output()).not.toContain('Unexpected error');
	});

	test('sends, receipts, typing, presence, changes and new conversations cross all three instances', async () => {
		const alice = await signedInClient(one.origin);
		const bob = await signedInClient(two.origin);
		const aliceOnOne = await WsClient.connect(one.origin, alice.client.cookie);
		const aliceOnThree = await WsClient.connect(three.origin, alice.client.cookie);
		const bobOnTwo = await WsClient.connect(two.origin, bob.client.cookie);

		// A conversation opened on instance two reaches Alice's devices on one and three.
		const opened = await on(two, bob).post('/api/conversations', { username: alice.user.username });
		const conversationId = opened.body.conversation.id as string;
		for (const ws of [aliceOnOne, aliceOnThree]) await ws.waitFor((f) => f.type === 'conversation' && f.conversation.id === conversationId);
		// Each side learns the other's presence across instances.
		await bobOnTwo.waitFor((f) => f.type === 'presence' && f.userId === alice.user.id && f.online);
		await aliceOnThree.waitFor((f) => f.type === 'presence' && f.userId === bob.user.id && f.online);

		const clientId = randomUUID();
		const sent = Array.from({ length: 10 }, (_, i) => send(conversationId, clientId, i + 1, `from one #${i + 1}`));
		for (const message of sent) aliceOnOne.send({ type: 'send', ...message });
		for (const ws of [bobOnTwo, aliceOnThree]) {
			const got = await ws.waitForCount((f) => f.type === 'message' && f.message.conversationId === conversationId, 10);
			expect(got.map((f) => f.message.id)).toEqual(sent.map((m) => m.id));
		}

		bobOnTwo.send({ type: 'receipt', conversationId, seq: 10, status: 'read' });
		for (const ws of [aliceOnOne, aliceOnThree]) {
			await ws.waitFor((f) => f.type === 'receipt' && f.userId === bob.user.id && f.readSeq === 10);
		}

		expect((await on(two, bob).post('/api/typing', { conversationId })).status).toBe(204);
		await aliceOnThree.waitFor((f) => f.type === 'typing' && f.userId === bob.user.id);
		expect((await on(two, bob).request('DELETE', '/api/typing', { conversationId })).status).toBe(204);
		await aliceOnThree.waitFor((f) => f.type === 'typing_stopped' && f.userId === bob.user.id);

		const edited = await on(three, alice).request('PATCH', `/api/messages/${sent[0].id}`, { body: 'edited on three' });
		expect(edited.status).toBe(200);
		const reacted = await on(one, bob).request('PUT', `/api/messages/${sent[1].id}/reactions/${encodeURIComponent('👍')}`);
		expect(reacted.status).toBe(200);
		for (const ws of [bobOnTwo, aliceOnOne]) {
			await ws.waitFor((f) => f.type === 'message_updated' && f.message.id === sent[0].id && f.message.body === 'edited on three');
			await ws.waitFor((f) => f.type === 'message_updated' && f.message.id === sent[1].id && f.message.reactions.length === 1);
		}

		bobOnTwo.close();
		await aliceOnThree.waitFor((f) => f.type === 'presence' && f.userId === bob.user.id && !f.online);
		aliceOnOne.close();
		aliceOnThree.close();
	});

	test("signing out on one instance closes that session's sockets on the others, which refuse it at once", async () => {
		const { alice, conversationId } = await signedInPair(one.origin, two.origin);
		const onTwo = await WsClient.connect(two.origin, alice.client.cookie);
		const onThree = await WsClient.connect(three.origin, alice.client.cookie);
		// Instance three has just proved the cookie and keeps the session in its cache.
		expect((await on(three, alice).post('/api/messages', send(conversationId, randomUUID(), 1))).status).toBe(200);
		expect((await on(one, alice).post('/api/auth/logout')).status).toBe(204);
		expect((await onTwo.waitClosed()).code).toBe(4001);
		expect((await onThree.waitClosed()).code).toBe(4001);
		expect((await on(three, alice).post('/api/messages', send(conversationId, randomUUID(), 1))).status).toBe(401);
	});

	test('the bus cut (reset, then blackholed) and restored mid-burst: nothing acked is lost and everyone converges', async () => {
		const { alice, bob, conversationId } = await signedInPair(one.origin, two.origin);
		const a = new Chatter(alice, conversationId);
		const b = new Chatter(bob, conversationId);
		await a.connect(three);
		await b.connect(one);
		let count = 0;
		const burst = async (size: number) => {
			for (let i = 0; i < size; i++) {
				a.say(`alice ${++count}`);
				b.say(`bob ${count}`);
			}
		};
		let reconnects = 0;
		for (const mode of ['reset', 'blackhole'] as const) {
			await burst(10);
			await a.waitForMessages(2 * count);
			natsProxy.cut(mode);
			// Sent while instance three cannot reach the bus: Bob's reach Alice only through her
			// instance's resync, Alice's reach Bob only once her instance's buffered notes go out.
			await burst(10);
			// A blackholed link never closes: only the client's pings can tell it is dead.
			if (mode === 'blackhole') await logged(three, 'NATS connection to', 30_000, reconnects + 1);
			natsProxy.restore();
			await logged(three, 'NATS connection re-established', 30_000, ++reconnects);
			await burst(5);
			await a.waitForMessages(2 * count);
			await b.waitForMessages(2 * count);
		}
		await expectConverged(one, [a, b], conversationId, 2 * count);
		a.ws!.close();
		b.ws!.close();
	});

	test('an instance killed mid-chat: its clients resume on another, nothing lost or doubled', async () => {
		const { alice, bob, conversationId } = await signedInPair(one.origin, two.origin);
		const a = new Chatter(alice, conversationId);
		const b = new Chatter(bob, conversationId);
		await a.connect(one);
		await b.connect(two);
		const rounds = 20;
		try {
			for (let i = 1; i <= rounds; i++) {
				a.say(`alice ${i}`);
				b.say(`bob ${i}`);
				if (i === 10) {
					await two.kill();
					await b.ws!.waitClosed();
					await b.connect(three);
				}
				await a.waitForMessages(2 * i);
			}
			await expectConverged(one, [a, b], conversationId, 2 * rounds);
		} finally {
			a.ws?.close();
			b.ws?.close();
			two = await instance(env, two.port);
		}
	});
});
