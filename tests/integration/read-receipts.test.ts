import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { ApiClient, describeEngines, openReplay, signedInPair, startServer, WsClient, type TestServer } from './harness';

const PASSWORD = 'correct horse battery';

function send(conversationId: string, clientId: string, clientSeq: number) {
	return { id: randomUUID(), conversationId, clientId, clientSeq, body: `message ${clientSeq}` };
}

type Frame = { type: string; userId?: string; readSeq?: number; deliveredSeq?: number; conversation?: { peerReadSeq: number } };
const receiptsOf = (frames: Frame[], userId: string) => frames.filter((f) => f.type === 'receipt' && f.userId === userId);

describeEngines('read receipts off', (engine) => {
	let server: TestServer;
	beforeAll(async () => {
		server = await startServer({ engine });
	});
	afterAll(async () => {
		await server?.stop();
	});

	test('settings default to read receipts on; a patch changes only what it names, strictly', async () => {
		const { alice } = await signedInPair(server.origin);
		expect((await alice.client.get('/api/me/settings')).body).toEqual({ settings: { readReceipts: true } });
		const empty = await alice.client.request('PATCH', '/api/me/settings', {});
		expect(empty.status).toBe(200);
		expect(empty.body.settings.readReceipts).toBe(true);
		for (const bad of [{ readReceipts: 'no' }, { readReceipts: false, theme: 'dark' }, []]) {
			const res = await alice.client.request('PATCH', '/api/me/settings', bad);
			expect(res.status, JSON.stringify(bad)).toBe(400);
			expect(res.body.error.code).toBe('bad_request');
		}
		expect((await alice.client.get('/api/me/settings')).body.settings.readReceipts).toBe(true);
	});

	test('with receipts off neither sees the other read; delivered flows; own devices keep the real read state; on again shows it', async () => {
		const { alice, bob, conversationId } = await signedInPair(server.origin);
		// Bob's second device, to prove his own read state still reaches him.
		const bobPhone = new ApiClient(server.origin);
		expect((await bobPhone.post('/api/auth/login', { username: bob.user.username, password: PASSWORD })).status).toBe(200);
		const aliceWs = await WsClient.connect(server.origin, alice.client.cookie);
		const bobPhoneWs = await WsClient.connect(server.origin, bobPhone.cookie);

		const aliceClient = randomUUID();
		for (let i = 1; i <= 2; i++) expect((await alice.client.post('/api/messages', send(conversationId, aliceClient, i))).status).toBe(200);
		await bob.client.post('/api/receipts', { conversationId, seq: 1, status: 'read' });
		await aliceWs.waitFor((f) => f.type === 'receipt' && f.userId === bob.user.id && f.readSeq === 1);

		const off = await bob.client.request('PATCH', '/api/me/settings', { readReceipts: false });
		expect(off.body).toEqual({ settings: { readReceipts: false } });
		// Alice's screen learns at once that Bob's read state is hidden (and hides what it showed).
		const hidden = await aliceWs.waitFor((f) => f.type === 'conversation' && f.conversation.id === conversationId);
		expect(hidden.conversation).toMatchObject({ peerReadSeq: 0, readReceipts: false });

		const before = aliceWs.frames.length;
		await bob.client.post('/api/receipts', { conversationId, seq: 2, status: 'read' });
		const live = await aliceWs.waitFor((f) => aliceWs.frames.indexOf(f) >= before && f.type === 'receipt' && f.userId === bob.user.id);
		expect(live).toMatchObject({ deliveredSeq: 2, readSeq: 0 });
		const own = await bobPhoneWs.waitFor((f) => f.type === 'receipt' && f.userId === bob.user.id && f.readSeq === 2);
		expect(own.deliveredSeq).toBe(2);

		// Bob sees none of Alice's read state either, but her delivered flows.
		const bobClient = randomUUID();
		for (let i = 1; i <= 2; i++) expect((await bob.client.post('/api/messages', send(conversationId, bobClient, i))).status).toBe(200);
		await alice.client.post('/api/receipts', { conversationId, seq: 3, status: 'delivered' });
		await alice.client.post('/api/receipts', { conversationId, seq: 4, status: 'read' });
		const fromAlice = await bobPhoneWs.waitFor((f) => f.type === 'receipt' && f.userId === alice.user.id && f.deliveredSeq === 4);
		expect(fromAlice.readSeq).toBe(0);
		expect(receiptsOf(bobPhoneWs.frames, alice.user.id).every((f) => f.readSeq === 0)).toBe(true);

		// The conversation views agree, for both of them, and Bob's unread count is his own real one.
		const aliceView = (await alice.client.get('/api/conversations')).body.conversations[0];
		expect(aliceView).toMatchObject({ peerReadSeq: 0, peerDeliveredSeq: 2, readReceipts: false, myReadSeq: 4 });
		const bobView = (await bob.client.get(`/api/conversations`)).body.conversations[0];
		expect(bobView).toMatchObject({ peerReadSeq: 0, peerDeliveredSeq: 4, readReceipts: false, myReadSeq: 2, unreadCount: 0 });

		// Replay from the start of the log (a reconnect) hides read state too, even from before the toggle.
		for (const transport of ['ws', 'sse'] as const) {
			const replay = await openReplay(server.origin, alice.client.cookie, transport);
			await replay.complete();
			const bobs = receiptsOf(replay.events(), bob.user.id);
			expect(bobs.length, transport).toBeGreaterThan(0);
			expect(
				bobs.every((f) => f.readSeq === 0),
				transport
			).toBe(true);
			expect(Math.max(...bobs.map((f) => f.deliveredSeq!))).toBe(2);
			replay.close();
			const mine = await openReplay(server.origin, bobPhone.cookie, transport);
			await mine.complete();
			expect(Math.max(...receiptsOf(mine.events(), bob.user.id).map((f) => f.readSeq!)), transport).toBe(2);
			expect(
				receiptsOf(mine.events(), alice.user.id).every((f) => f.readSeq === 0),
				transport
			).toBe(true);
			mine.close();
		}

		// On again: both see the other's read state again, told at once.
		const mark = aliceWs.frames.length;
		expect((await bob.client.request('PATCH', '/api/me/settings', { readReceipts: true })).body.settings.readReceipts).toBe(true);
		const shown = await aliceWs.waitFor((f) => aliceWs.frames.indexOf(f) >= mark && f.type === 'conversation');
		expect(shown.conversation).toMatchObject({ peerReadSeq: 2, readReceipts: true });
		expect((await bob.client.get('/api/conversations')).body.conversations[0]).toMatchObject({ peerReadSeq: 4, readReceipts: true });
		aliceWs.close();
		bobPhoneWs.close();
	});
});
