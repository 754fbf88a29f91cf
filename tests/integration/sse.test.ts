import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { describeEngines, signedInClient, SseClient, startServer, type TestServer, signedInPair } from './harness';

function send(conversationId: string, clientId: string, clientSeq: number, body = `message ${clientSeq}`) {
	return { id: randomUUID(), conversationId, clientId, clientSeq, body };
}

function shuffle<T>(items: T[]): T[] {
	const out = [...items];
	for (let i = out.length - 1; i > 0; i--) {
		const j = Math.floor(Math.random() * (i + 1));
		[out[i], out[j]] = [out[j], out[i]];
	}
	return out;
}

describeEngines('Server-Sent Events and POST', (engine) => {
	let server: TestServer;
	beforeAll(async () => {
		server = await startServer({ engine, env: { SSE_KEEPALIVE_MS: '300', GAP_TIMEOUT_MS: '3000' } });
	});
	afterAll(async () => {
		await server?.stop();
	});

	test('the stream has the headers that stop proxy buffering, and keepalive comments arrive', async () => {
		const { alice } = await signedInPair(server.origin);
		const sse = await SseClient.connect(server.origin, alice.client.cookie);
		expect(sse.headers?.get('content-type')).toMatch(/^text\/event-stream/);
		expect(sse.headers?.get('cache-control')).toBe('no-cache, no-transform');
		expect(sse.headers?.get('x-accel-buffering')).toBe('no');
		await sse.waitUntil(() => sse.comments >= 2, 5000);
		sse.close();
	});

	test('no session → 401 in the error shape', async () => {
		const sse = (await SseClient.connect(server.origin, undefined)) as SseClient & { errorBody: any };
		expect(sse.status).toBe(401);
		expect(sse.errorBody.error.code).toBe('unauthorized');
	});

	test('live delivery over SSE with POST sends; receipts and typing flow too', async () => {
		const { alice, bob, conversationId } = await signedInPair(server.origin);
		const bobSse = await SseClient.connect(server.origin, bob.client.cookie);
		const aliceSse = await SseClient.connect(server.origin, alice.client.cookie);
		const message = send(conversationId, randomUUID(), 1, 'over sse');
		const ack = await alice.client.post('/api/messages', message);
		const got = await bobSse.waitFor((e) => e.event === 'message');
		expect(got.data.message).toMatchObject({ id: message.id, seq: ack.body.seq, body: 'over sse' });
		expect(got.id).toBe(got.data.cursor);
		await bob.client.post('/api/receipts', { conversationId, seq: 1, status: 'read' });
		const receipt = await aliceSse.waitFor((e) => e.event === 'receipt');
		expect(receipt.data).toMatchObject({ readSeq: 1, deliveredSeq: 1, userId: bob.user.id });
		await bob.client.post('/api/typing', { conversationId });
		const typing = await aliceSse.waitFor((e) => e.event === 'typing');
		expect(typing.id).toBeUndefined(); // ephemeral: never replayed
		expect((await bob.client.request('DELETE', '/api/typing', { conversationId })).status).toBe(204);
		const stopped = await aliceSse.waitFor((e) => e.event === 'typing_stopped');
		expect(stopped).toMatchObject({ id: undefined, data: { type: 'typing_stopped', conversationId, userId: bob.user.id } });
		bobSse.close();
		aliceSse.close();
	});

	test('replay from Last-Event-ID is exact while the other user writes concurrently', async () => {
		const { alice, bob, conversationId } = await signedInPair(server.origin);
		const first = await SseClient.connect(server.origin, bob.client.cookie);
		const total = 200;
		const clientId = randomUUID();
		const writer = (async () => {
			for (let i = 1; i <= total; i += 10) {
				await Promise.all(Array.from({ length: 10 }, (_, k) => alice.client.post('/api/messages', send(conversationId, clientId, i + k))));
			}
		})();
		await first.waitUntil(() => first.events.filter((e) => e.event === 'message').length >= 30);
		first.close();
		const seen = first.events.filter((e) => e.event === 'message');
		const lastId = seen.at(-1)!.id!;
		// Last-Event-ID wins over a stale ?cursor= (what EventSource does on its reconnects).
		const resumed = await SseClient.connect(server.origin, bob.client.cookie, { cursor: '0', lastEventId: lastId });
		await writer;
		await resumed.waitUntil(() => resumed.events.filter((e) => e.event === 'message').length >= total - seen.length);
		const seqs = [...seen, ...resumed.events.filter((e) => e.event === 'message')].map((e) => e.data.message.seq);
		expect(seqs).toEqual(Array.from({ length: total }, (_, i) => i + 1));
		resumed.close();
	});

	test('50 concurrent POSTs of one client with shuffled clientSeq commit in clientSeq order', async () => {
		const { alice, conversationId } = await signedInPair(server.origin);
		const clientId = randomUUID();
		const sends = Array.from({ length: 50 }, (_, i) => send(conversationId, clientId, i + 1));
		const acks = await Promise.all(shuffle(sends).map((m) => alice.client.post('/api/messages', m)));
		expect(acks.every((a) => a.status === 200)).toBe(true);
		const history = await alice.client.get(`/api/conversations/${conversationId}/messages?limit=200`);
		expect(history.status, JSON.stringify(history.body)).toBe(200);
		expect(history.body.messages.map((m: any) => m.clientSeq)).toEqual(sends.map((s) => s.clientSeq));
		const bySeq = new Map(acks.map((a) => [a.body.id, a.body.seq]));
		expect(sends.map((s) => bySeq.get(s.id))).toEqual(sends.map((_, i) => i + 1));
	});

	test("a user's SSE stream never carries another user's events", async () => {
		const { alice, conversationId } = await signedInPair(server.origin);
		const eve = await signedInClient(server.origin);
		const eveSse = await SseClient.connect(server.origin, eve.client.cookie);
		await alice.client.post('/api/messages', send(conversationId, randomUUID(), 1, 'private'));
		await alice.client.post('/api/typing', { conversationId });
		// A marker event of Eve's own proves her stream was live while the others happened.
		const carol = await signedInClient(server.origin);
		await carol.client.post('/api/conversations', { username: eve.user.username });
		await eveSse.waitFor((e) => e.event === 'conversation');
		expect(eveSse.events.filter((e) => ['message', 'typing', 'receipt'].includes(e.event))).toEqual([]);
		eveSse.close();
	});

	test('logout ends the session and closes its SSE stream at once', async () => {
		const { alice } = await signedInPair(server.origin);
		const sse = await SseClient.connect(server.origin, alice.client.cookie);
		await alice.client.post('/api/auth/logout');
		await sse.waitUntil(() => sse.ended);
		expect(sse.events.at(-1)?.event).toBe('close');
	});
});
