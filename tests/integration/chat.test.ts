import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { ApiClient, describeEngines, signedInClient, startServer, WsClient, type TestServer, signedInPair } from './harness';

function send(conversationId: string, clientId: string, clientSeq: number, body = `message ${clientSeq}`) {
	return { id: randomUUID(), conversationId, clientId, clientSeq, body };
}

describeEngines('chat over HTTP and WebSocket', (engine) => {
	let server: TestServer;
	beforeAll(async () => {
		server = await startServer({ engine, env: { GAP_TIMEOUT_MS: '600' } });
	});
	afterAll(async () => {
		await server?.stop();
	});

	test('two users exchange messages in real time over WebSocket', async () => {
		const { alice, bob, conversationId } = await signedInPair(server.origin);
		const aliceWs = await WsClient.connect(server.origin, alice.client.cookie);
		const bobWs = await WsClient.connect(server.origin, bob.client.cookie);
		const clientA = randomUUID();
		const first = send(conversationId, clientA, 1, 'hi bob');
		aliceWs.send({ type: 'send', ...first });
		const ack = await aliceWs.waitFor((f) => f.type === 'ack' && f.id === first.id);
		expect(ack).toMatchObject({ conversationId, seq: 1 });
		expect(Date.parse(ack.createdAt)).not.toBeNaN();
		const received = await bobWs.waitFor((f) => f.type === 'message' && f.message.id === first.id);
		expect(received.message).toMatchObject({ body: 'hi bob', seq: 1, senderId: alice.user.id, clientSeq: 1 });
		expect(typeof received.cursor).toBe('string');
		// The sender's other devices see their own message too.
		await aliceWs.waitFor((f) => f.type === 'message' && f.message.id === first.id);

		const reply = send(conversationId, randomUUID(), 1, 'hello alice');
		bobWs.send({ type: 'send', ...reply });
		const got = await aliceWs.waitFor((f) => f.type === 'message' && f.message.id === reply.id);
		expect(got.message.seq).toBe(2);
		aliceWs.close();
		bobWs.close();
	});

	test('sends with clientSeq 1, 3, 2 commit as 1, 2, 3', async () => {
		const { alice, conversationId } = await signedInPair(server.origin);
		const clientId = randomUUID();
		const [one, two, three] = [1, 2, 3].map((n) => send(conversationId, clientId, n));
		const acks = await Promise.all([one, three, two].map((m) => alice.client.post('/api/messages', m)));
		for (const a of acks) expect(a.status).toBe(200);
		const history = await alice.client.get(`/api/conversations/${conversationId}/messages`);
		expect(history.body.messages.map((m: any) => m.clientSeq)).toEqual([1, 2, 3]);
		expect(history.body.messages.map((m: any) => m.seq)).toEqual([1, 2, 3]);
	});

	test('1, 3 and then nothing: 3 is committed after the gap timeout; a late 2 is still stored', async () => {
		const { alice, conversationId } = await signedInPair(server.origin);
		const clientId = randomUUID();
		await alice.client.post('/api/messages', send(conversationId, clientId, 1));
		const started = Date.now();
		const three = await alice.client.post('/api/messages', send(conversationId, clientId, 3));
		expect(three.status).toBe(200);
		expect(three.body.seq).toBe(2);
		expect(Date.now() - started).toBeGreaterThanOrEqual(500);
		const late = await alice.client.post('/api/messages', send(conversationId, clientId, 2));
		expect(late.body.seq).toBe(3);
		const history = await alice.client.get(`/api/conversations/${conversationId}/messages`);
		expect(history.body.messages.map((m: any) => m.clientSeq)).toEqual([1, 3, 2]);
	});

	test('a duplicate id is stored once and gets the same ack; a reused id with another body is 409', async () => {
		const { alice, bob, conversationId } = await signedInPair(server.origin);
		const message = send(conversationId, randomUUID(), 1, 'once');
		const first = await alice.client.post('/api/messages', message);
		const again = await alice.client.post('/api/messages', message);
		const ws = await WsClient.connect(server.origin, alice.client.cookie);
		ws.send({ type: 'send', ...message });
		const wsAck = await ws.waitFor((f) => f.type === 'ack');
		expect(again.body).toEqual(first.body);
		expect({ ...wsAck, type: undefined }).toEqual({ ...first.body, type: undefined });
		const conflict = await alice.client.post('/api/messages', { ...message, body: 'different' });
		expect(conflict.status).toBe(409);
		expect(conflict.body.error.code).toBe('conflict');
		const otherSender = await bob.client.post('/api/messages', message);
		expect(otherSender.status).toBe(409);
		const history = await alice.client.get(`/api/conversations/${conversationId}/messages`);
		expect(history.body.messages).toHaveLength(1);
		ws.close();
	});

	test("a third user gets 404 everywhere and never sees the conversation's events", async () => {
		const { alice, bob, conversationId } = await signedInPair(server.origin);
		const eve = await signedInClient(server.origin);
		const eveWs = await WsClient.connect(server.origin, eve.client.cookie);
		const bobWs = await WsClient.connect(server.origin, bob.client.cookie);
		const message = send(conversationId, randomUUID(), 1, 'secret');
		await alice.client.post('/api/messages', message);

		const history = await eve.client.get(`/api/conversations/${conversationId}/messages`);
		expect(history.status).toBe(404);
		expect(history.body.error.code).toBe('not_found');
		const unknown = await eve.client.get(`/api/conversations/${randomUUID()}/messages`);
		expect(unknown.body).toEqual(history.body);
		expect((await eve.client.post('/api/messages', send(conversationId, randomUUID(), 1))).status).toBe(404);
		expect((await eve.client.post('/api/receipts', { conversationId, seq: 1, status: 'read' })).status).toBe(404);
		expect((await eve.client.post('/api/typing', { conversationId })).status).toBe(404);
		expect((await eve.client.get('/api/conversations')).body.conversations).toEqual([]);
		eveWs.send({ type: 'typing', conversationId });
		eveWs.send({ type: 'send', ...send(conversationId, randomUUID(), 1) });
		const error = await eveWs.waitFor((f) => f.type === 'error');
		expect(error.code).toBe('not_found');

		// Bob sees the message and a typing event from Alice; by then Eve would have seen them too.
		await bobWs.waitFor((f) => f.type === 'message' && f.message.id === message.id);
		await alice.client.post('/api/typing', { conversationId });
		await bobWs.waitFor((f) => f.type === 'typing');
		const ping = await (async () => {
			eveWs.send({ type: 'ping' });
			return eveWs.waitFor((f) => f.type === 'pong');
		})();
		expect(ping).toBeTruthy();
		expect(eveWs.frames.filter((f) => ['message', 'typing', 'receipt', 'conversation'].includes(f.type))).toEqual([]);
		eveWs.close();
		bobWs.close();
	});

	test('resume from a cursor while the other user writes hundreds of messages: every one exactly once, in order', async () => {
		const { alice, bob, conversationId } = await signedInPair(server.origin);
		const bobWs = await WsClient.connect(server.origin, bob.client.cookie);
		const aliceWs = await WsClient.connect(server.origin, alice.client.cookie);
		const total = 300;
		const clientId = randomUUID();
		const writer = (async () => {
			for (let i = 1; i <= total; i++) {
				aliceWs.send({ type: 'send', ...send(conversationId, clientId, i, `m${i}`) });
				if (i % 25 === 0) await aliceWs.waitFor((f) => f.type === 'ack' && f.seq === i);
			}
		})();
		// Let some arrive, then drop the connection mid-stream and resume from the last cursor seen.
		await bobWs.waitForCount((f) => f.type === 'message', 40);
		bobWs.close();
		await bobWs.waitClosed();
		const seenBefore = bobWs.frames.filter((f) => f.type === 'message' || f.type === 'receipt' || f.type === 'conversation');
		const cursor = seenBefore.at(-1).cursor;
		const resumed = await WsClient.connect(server.origin, bob.client.cookie, { cursor });
		await writer;
		await resumed.waitForCount((f) => f.type === 'message', total - seenBefore.filter((f) => f.type === 'message').length);
		const all = [...seenBefore, ...resumed.frames.filter((f) => f.type === 'message')]
			.filter((f) => f.type === 'message')
			.map((f) => f.message.seq);
		expect(all).toEqual(Array.from({ length: total }, (_, i) => i + 1));
		// Cursors strictly increase across the switch.
		const cursors = [...seenBefore, ...resumed.frames.filter((f) => f.cursor && f.type !== 'ready')].map((f) => Number(f.cursor));
		for (let i = 1; i < cursors.length; i++) expect(cursors[i]).toBeGreaterThan(cursors[i - 1]);
		resumed.close();
		aliceWs.close();
	});

	test('connecting without a cursor delivers only what is committed afterwards; a bad cursor gets reset', async () => {
		const { alice, bob, conversationId } = await signedInPair(server.origin);
		await alice.client.post('/api/messages', send(conversationId, randomUUID(), 1, 'before'));
		const fresh = await WsClient.connect(server.origin, bob.client.cookie);
		const after = send(conversationId, randomUUID(), 1, 'after');
		await alice.client.post('/api/messages', after);
		const got = await fresh.waitFor((f) => f.type === 'message');
		expect(got.message.body).toBe('after');

		for (const bad of ['nonsense', '999999999', '-1']) {
			const ws = await WsClient.connect(server.origin, bob.client.cookie, { cursor: bad });
			expect(ws.frames[0].type).toBe('reset');
			const ready = ws.frames[1];
			expect(ready.type).toBe('ready');
			expect(ready.cursor).toBe(ws.frames[0].cursor);
			ws.close();
		}
		fresh.close();
	});

	test('bad frames get error frames and the connection stays open; oversized frames close with 1009', async () => {
		const { alice } = await signedInPair(server.origin);
		const ws = await WsClient.connect(server.origin, alice.client.cookie);
		ws.send('this is not json');
		const garbage = await ws.waitFor((f) => f.type === 'error');
		expect(garbage.code).toBe('bad_request');
		ws.send({ type: 'teleport', id: 'abc' });
		const wrongType = await ws.waitFor((f) => f.type === 'error' && f.id === 'abc');
		expect(wrongType.code).toBe('bad_request');
		ws.send({ type: 'send', id: 'x1', conversationId: 5 });
		const wrongFields = await ws.waitFor((f) => f.type === 'error' && f.id === 'x1');
		expect(wrongFields.message).toMatch(/\w/);
		ws.send({ type: 'ping' });
		await ws.waitFor((f) => f.type === 'pong');
		ws.send('x'.repeat(65 * 1024));
		const closed = await ws.waitClosed();
		expect(closed.code).toBe(1009);
	});

	test('a WebSocket upgrade without a session is 401, from a foreign Origin 403', async () => {
		const { alice } = await signedInPair(server.origin);
		await expect(WsClient.connect(server.origin, undefined)).rejects.toMatchObject({ status: 401 });
		await expect(WsClient.connect(server.origin, 'session=bogus.token')).rejects.toMatchObject({ status: 401 });
		await expect(WsClient.connect(server.origin, alice.client.cookie, { origin: 'https://evil.example' })).rejects.toMatchObject({
			status: 403
		});
	});

	test("logout closes that session's open WebSocket at once", async () => {
		const { alice } = await signedInPair(server.origin);
		const ws = await WsClient.connect(server.origin, alice.client.cookie);
		await alice.client.post('/api/auth/logout');
		const closed = await ws.waitClosed();
		expect(closed.code).toBe(4001);
	});
});

describeEngines('conversations, history, receipts and typing', (engine) => {
	let server: TestServer;
	beforeAll(async () => {
		server = await startServer({ engine });
	});
	afterAll(async () => {
		await server?.stop();
	});

	test('user search by prefix excludes the caller', async () => {
		const alice = await signedInClient(server.origin, `srch_${randomUUID().slice(0, 6)}_a`);
		const prefix = alice.user.username.slice(0, 11);
		await signedInClient(server.origin, `${prefix}_b`);
		const found = await alice.client.get(`/api/users?q=${prefix}`);
		expect(found.body.users.map((u: any) => u.username)).toEqual([`${prefix}_b`]);
		// "_" is a literal, not a wildcard
		expect((await alice.client.get('/api/users?q=s_a')).body.users.every((u: any) => u.username.startsWith('s_a'))).toBe(true);
		expect((await new ApiClient(server.origin).get('/api/users?q=a')).status).toBe(401);
	});

	test('get-or-create returns the same conversation from both sides; unknown user 404, oneself 400', async () => {
		const alice = await signedInClient(server.origin);
		const bob = await signedInClient(server.origin);
		const bobWs = await WsClient.connect(server.origin, bob.client.cookie);
		const a = await alice.client.post('/api/conversations', { username: bob.user.username });
		const b = await bob.client.post('/api/conversations', { username: alice.user.username });
		const again = await alice.client.post('/api/conversations', { username: bob.user.username.toUpperCase() });
		expect(a.body.conversation.id).toBe(b.body.conversation.id);
		expect(again.body.conversation.id).toBe(a.body.conversation.id);
		expect(a.body.conversation).toMatchObject({ peer: bob.user, lastSeq: 0, lastMessage: null, unreadCount: 0 });
		const event = await bobWs.waitFor((f) => f.type === 'conversation');
		expect(event.conversation.peer).toEqual(alice.user);
		expect((await alice.client.post('/api/conversations', { username: 'nobody_here_x' })).status).toBe(404);
		expect((await alice.client.post('/api/conversations', { username: alice.user.username })).status).toBe(400);
		bobWs.close();
	});

	test('history pages by before/after with hasMore, and validates limit', async () => {
		const { alice, conversationId } = await signedInPair(server.origin);
		const clientId = randomUUID();
		for (let i = 1; i <= 12; i++) await alice.client.post('/api/messages', send(conversationId, clientId, i));
		const url = (q: string) => `/api/conversations/${conversationId}/messages?${q}`;
		const seqs = (r: any) => r.body.messages.map((m: any) => m.seq);
		const newest = await alice.client.get(url('limit=5'));
		expect(seqs(newest)).toEqual([8, 9, 10, 11, 12]);
		expect(newest.body.hasMore).toBe(true);
		const older = await alice.client.get(url('before=8&limit=5'));
		expect(seqs(older)).toEqual([3, 4, 5, 6, 7]);
		const oldest = await alice.client.get(url('before=3&limit=5'));
		expect(seqs(oldest)).toEqual([1, 2]);
		expect(oldest.body.hasMore).toBe(false);
		const after = await alice.client.get(url('after=9&limit=2'));
		expect(seqs(after)).toEqual([10, 11]);
		expect(after.body.hasMore).toBe(true);
		const between = await alice.client.get(url('after=2&before=6'));
		expect(seqs(between)).toEqual([3, 4, 5]);
		expect(seqs(await alice.client.get(url('')))).toHaveLength(12);
		for (const bad of ['limit=0', 'limit=201', 'limit=abc', 'before=x']) {
			const res = await alice.client.get(url(bad));
			expect(res.status, bad).toBe(400);
			expect(res.body.error.code).toBe('bad_request');
		}
	});

	test('receipts are cumulative and monotonic, read implies delivered, unread counts follow', async () => {
		const { alice, bob, conversationId } = await signedInPair(server.origin);
		const aliceWs = await WsClient.connect(server.origin, alice.client.cookie);
		const clientId = randomUUID();
		for (let i = 1; i <= 4; i++) await alice.client.post('/api/messages', send(conversationId, clientId, i));
		const unread = (await bob.client.get('/api/conversations')).body.conversations[0];
		expect(unread).toMatchObject({ id: conversationId, unreadCount: 4, lastSeq: 4, myReadSeq: 0 });
		expect(unread.lastMessage.seq).toBe(4);

		expect((await bob.client.post('/api/receipts', { conversationId, seq: 3, status: 'delivered' })).status).toBe(204);
		const delivered = await aliceWs.waitFor((f) => f.type === 'receipt' && f.userId === bob.user.id);
		expect(delivered).toMatchObject({ conversationId, deliveredSeq: 3, readSeq: 0 });
		await bob.client.post('/api/receipts', { conversationId, seq: 2, status: 'read' });
		const read = await aliceWs.waitFor((f) => f.type === 'receipt' && f.readSeq === 2);
		expect(read.deliveredSeq).toBe(3); // never moves backwards
		await bob.client.post('/api/receipts', { conversationId, seq: 1, status: 'read' }); // backwards: ignored
		await bob.client.post('/api/receipts', { conversationId, seq: 99, status: 'read' }); // clamped to lastSeq
		const all = await aliceWs.waitFor((f) => f.type === 'receipt' && f.readSeq === 4);
		expect(all.deliveredSeq).toBe(4);
		expect(aliceWs.frames.filter((f) => f.type === 'receipt').map((f) => f.readSeq)).toEqual([0, 2, 4]);

		const aliceView = (await alice.client.get('/api/conversations')).body.conversations[0];
		expect(aliceView).toMatchObject({ peerDeliveredSeq: 4, peerReadSeq: 4, unreadCount: 0 });
		expect((await bob.client.get('/api/conversations')).body.conversations[0]).toMatchObject({ unreadCount: 0, myReadSeq: 4 });
		expect((await bob.client.post('/api/receipts', { conversationId, seq: 1, status: 'seen' })).status).toBe(400);
		aliceWs.close();
	});

	test('typing reaches the peer only; presence tells when the peer comes and goes', async () => {
		const { alice, bob, conversationId } = await signedInPair(server.origin);
		const aliceWs = await WsClient.connect(server.origin, alice.client.cookie);
		const bobWs = await WsClient.connect(server.origin, bob.client.cookie);
		const online = await aliceWs.waitFor((f) => f.type === 'presence' && f.userId === bob.user.id && f.online);
		expect(online.online).toBe(true);
		bobWs.send({ type: 'typing', conversationId });
		const typing = await aliceWs.waitFor((f) => f.type === 'typing');
		expect(typing).toEqual({ type: 'typing', conversationId, userId: bob.user.id });
		bobWs.send({ type: 'typing_stopped', conversationId });
		const stopped = await aliceWs.waitFor((f) => f.type === 'typing_stopped');
		expect(stopped).toEqual({ type: 'typing_stopped', conversationId, userId: bob.user.id });
		expect(bobWs.frames.some((f) => f.type === 'typing' || f.type === 'typing_stopped')).toBe(false);
		bobWs.close();
		const offline = await aliceWs.waitFor((f) => f.type === 'presence' && f.userId === bob.user.id && !f.online && f.lastSeenAt);
		expect(Date.parse(offline.lastSeenAt)).not.toBeNaN();
		aliceWs.close();
	});

	test('conversations list newest activity first', async () => {
		const alice = await signedInClient(server.origin);
		const bob = await signedInClient(server.origin);
		const carol = await signedInClient(server.origin);
		const withBob = (await alice.client.post('/api/conversations', { username: bob.user.username })).body.conversation.id;
		const withCarol = (await alice.client.post('/api/conversations', { username: carol.user.username })).body.conversation.id;
		await bob.client.post('/api/messages', send(withBob, randomUUID(), 1, 'latest'));
		const list = (await alice.client.get('/api/conversations')).body.conversations.map((c: any) => c.id);
		expect(list).toEqual([withBob, withCarol]);
	});
});
