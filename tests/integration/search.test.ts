/** GET /api/search: full-text search over the caller's own conversations, never anyone else's. */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { ApiClient, describeEngines, signedInClient, startServer, type TestServer } from './harness';

describeEngines('message search', (engine) => {
	let server: TestServer;
	beforeAll(async () => {
		server = await startServer({ engine });
	});
	afterAll(async () => {
		await server?.stop();
	});

	async function say(client: ApiClient, conversationId: string, bodies: string[]) {
		const clientId = randomUUID();
		for (const [i, body] of bodies.entries()) {
			const res = await client.post('/api/messages', { id: randomUUID(), conversationId, clientId, clientSeq: i + 1, body });
			expect(res.status).toBe(200);
		}
	}

	test('finds words and prefixes in the caller’s conversations only', async () => {
		const alice = await signedInClient(server.origin);
		const bob = await signedInClient(server.origin);
		const carol = await signedInClient(server.origin);
		const mallory = await signedInClient(server.origin);
		const ab = (await alice.client.post('/api/conversations', { username: bob.user.username })).body.conversation.id;
		const bc = (await bob.client.post('/api/conversations', { username: carol.user.username })).body.conversation.id;
		await say(alice.client, ab, ['Meet at the Lighthouse café?', 'bring the umbrella', 'Émilie says hi 👋']);
		await say(bob.client, bc, ['secret lighthouse plans with carol']);

		const found = await alice.client.get('/api/search?q=lighthouse');
		expect(found.status).toBe(200);
		expect(found.body.results).toHaveLength(1);
		const [hit] = found.body.results;
		expect(hit.message).toMatchObject({ conversationId: ab, seq: 1, body: 'Meet at the Lighthouse café?' });
		expect(hit.peer).toEqual(bob.user);

		// Prefixes, several words (all required), accents and case.
		expect((await alice.client.get('/api/search?q=umbr')).body.results.map((r: any) => r.message.seq)).toEqual([2]);
		expect((await alice.client.get('/api/search?q=' + encodeURIComponent('meet CAFÉ'))).body.results).toHaveLength(1);
		expect((await alice.client.get('/api/search?q=' + encodeURIComponent('émilie'))).body.results).toHaveLength(1);
		expect((await alice.client.get('/api/search?q=meet%20umbrella')).body.results).toHaveLength(0);
		// Accents either way: typed without them, or typed with them where the message has none.
		expect((await alice.client.get('/api/search?q=cafe')).body.results).toHaveLength(1);
		expect((await alice.client.get('/api/search?q=emilie')).body.results).toHaveLength(1);
		expect((await alice.client.get('/api/search?q=' + encodeURIComponent('ÚMBRELLA'))).body.results).toHaveLength(1);

		// Bob sees both conversations; Carol only hers; a stranger nothing at all.
		expect((await bob.client.get('/api/search?q=lighthouse')).body.results).toHaveLength(2);
		const carolHits = (await carol.client.get('/api/search?q=lighthouse')).body.results;
		expect(carolHits.map((r: any) => r.message.conversationId)).toEqual([bc]);
		expect((await mallory.client.get('/api/search?q=lighthouse')).body.results).toEqual([]);
		expect((await mallory.client.get('/api/search?q=secret')).body.results).toEqual([]);
	});

	test('hostile and empty queries are answered, not errors; signed-out is 401', async () => {
		const alice = await signedInClient(server.origin);
		for (const q of ['', '   ', "' OR 1=1 --", '!&|:*()<->', 'a:* | b', '\\', '%', 'x'.repeat(5000)]) {
			const res = await alice.client.get('/api/search?q=' + encodeURIComponent(q));
			expect(res.status, q).toBe(200);
			expect(res.body.results).toEqual([]);
		}
		expect((await new ApiClient(server.origin).get('/api/search?q=hi')).status).toBe(401);
	});
});
