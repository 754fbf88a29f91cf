import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { ApiClient, describeEngines, signedInClient, signedInPair, startServer, type TestServer } from './harness';

/** More than one page of history (the export reads 200 at a time). */
const COUNT = 230;

describeEngines('download my data', (engine) => {
	let server: TestServer;
	beforeAll(async () => {
		server = await startServer({ engine });
	});
	afterAll(async () => {
		await server?.stop();
	});

	test('the export is an attachment holding every message the user can read, in the wire shape, and nothing else', async () => {
		const { alice, bob, conversationId } = await signedInPair(server.origin);
		const clientId = randomUUID();
		const ids: string[] = [];
		for (let i = 1; i <= COUNT; i++) {
			const id = randomUUID();
			ids.push(id);
			const res = await alice.client.post('/api/messages', { id, conversationId, clientId, clientSeq: i, body: `message ${i}` });
			expect(res.status).toBe(200);
		}
		const form = new FormData();
		form.append('conversationId', conversationId);
		form.append('file', new Blob([new Uint8Array([1, 2, 3])]), 'notes.bin');
		const uploaded = await fetch(`${server.origin}/api/attachments`, {
			method: 'POST',
			headers: { origin: server.origin, cookie: bob.client.cookie! },
			body: form
		}).then((r) => r.json());
		const bobsClient = randomUUID();
		const reply = await bob.client.post('/api/messages', {
			id: randomUUID(),
			conversationId,
			clientId: bobsClient,
			clientSeq: 1,
			body: 'a reply with a file',
			replyTo: ids[0],
			attachments: [uploaded.attachment.id]
		});
		expect(reply.status).toBe(200);
		expect((await bob.client.request('PUT', `/api/messages/${ids[1]}/reactions/${encodeURIComponent('👍')}`)).status).toBe(200);
		// Someone else's conversation must not appear in Alice's export.
		const carol = await signedInClient(server.origin);
		const elsewhere = await carol.client.post('/api/conversations', { username: bob.user.username });
		await carol.client.post('/api/messages', {
			id: randomUUID(),
			conversationId: elsewhere.body.conversation.id,
			clientId: randomUUID(),
			clientSeq: 1,
			body: 'private'
		});

		const res = await alice.client.get('/api/me/export');
		expect(res.status).toBe(200);
		expect(res.headers.get('content-type')).toMatch(/^application\/json/);
		const date = new Date().toISOString().slice(0, 10);
		expect(res.headers.get('content-disposition')).toBe(`attachment; filename="duet-export-${alice.user.username}-${date}.json"`);
		const data = res.body;
		expect(Date.parse(data.exportedAt)).not.toBeNaN();
		expect(data.user).toEqual(alice.user);
		expect(data.settings).toEqual({ readReceipts: true });
		expect(data.conversations).toHaveLength(1);
		const [conversation] = data.conversations;
		expect(conversation).toMatchObject({ id: conversationId, peer: bob.user });
		const messages = conversation.messages;
		expect(messages).toHaveLength(COUNT + 1);
		expect(messages.map((m: { seq: number }) => m.seq)).toEqual(Array.from({ length: COUNT + 1 }, (_, i) => i + 1));
		// The same messages, field for field, as the history endpoint gives them.
		const page = await alice.client.get(`/api/conversations/${conversationId}/messages?after=0&limit=5`);
		expect(messages.slice(0, 5)).toEqual(page.body.messages);
		expect(messages[1].reactions).toEqual([{ emoji: '👍', userIds: [bob.user.id] }]);
		const last = messages.at(-1);
		expect(last).toMatchObject({ body: 'a reply with a file', replyTo: ids[0], senderId: bob.user.id });
		expect(last.attachments).toEqual([
			expect.objectContaining({ name: 'notes.bin', size: 3, url: `/api/attachments/${uploaded.attachment.id}` })
		]);
		expect(JSON.stringify(data)).not.toContain('private');
	});

	test('someone with no conversations gets an empty list; without a session it is 401', async () => {
		const loner = await signedInClient(server.origin);
		const res = await loner.client.get('/api/me/export');
		expect(res.status).toBe(200);
		expect(res.body).toMatchObject({ user: loner.user, conversations: [] });
		const anonymous = await new ApiClient(server.origin).get('/api/me/export');
		expect(anonymous.status).toBe(401);
		expect(anonymous.body.error.code).toBe('unauthorized');
	});
});
