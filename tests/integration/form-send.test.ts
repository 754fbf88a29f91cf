/**
 * The no-JavaScript composer goes through group commit like every other send: the server takes
 * the next clientSeq of the session's form client under the conversation's lock, so sends from
 * several tabs at once are numbered 1, 2, 3, … without a gap or a repeat, and a resubmitted form
 * (same id) is stored once.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { fetchAll } from './checker';
import { describeEngines, signedInClient, startServer, type TestServer } from './harness';

describeEngines('no-JavaScript form sends', (engine) => {
	let server: TestServer;
	beforeAll(async () => {
		server = await startServer({ engine });
	});
	afterAll(async () => {
		await server?.stop();
	});

	test('are numbered in commit order per session, gapless, and idempotent by the form id', async () => {
		const alice = await signedInClient(server.origin);
		const bob = await signedInClient(server.origin);
		const conversationId = (await alice.client.post('/api/conversations', { username: bob.user.username })).body.conversation.id;
		const post = (id: string, body: string) =>
			alice.client.request('POST', `/c/${conversationId}?/send`, undefined, {
				raw: new URLSearchParams({ id, body }).toString(),
				headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' }
			});
		const first = randomUUID();
		const once = await post(first, 'one');
		expect(once.status, JSON.stringify(once.body)).toBe(303);
		// Several tabs of one session at once, and a resubmit of the first form.
		const results = await Promise.all([...Array.from({ length: 8 }, (_, i) => post(randomUUID(), `tab ${i}`)), post(first, 'one')]);
		expect(results.map((r) => r.status)).toEqual(Array(9).fill(303));
		// A send of the same user through the API is numbered by its own client, untouched.
		const api = await alice.client.post('/api/messages', {
			id: randomUUID(),
			conversationId,
			clientId: randomUUID(),
			clientSeq: 1,
			body: 'api'
		});
		expect(api.status).toBe(200);

		const stored = await fetchAll(alice.client, conversationId);
		expect(stored.map((m) => m.seq)).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
		const form = stored.filter((m) => m.body !== 'api');
		expect(form).toHaveLength(9);
		expect(new Set(form.map((m) => m.clientId)).size).toBe(1);
		expect(form.map((m) => m.clientSeq)).toEqual(Array.from({ length: 9 }, (_, i) => i + 1));
		expect(form.filter((m) => m.id === first)).toHaveLength(1);
	});
});
