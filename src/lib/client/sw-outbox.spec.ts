// @vitest-environment node
import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { openUserDb } from './db';
import { queueChange } from './changes';
import { enqueueMessage } from './outbox';
import { sendQueued } from './sw-outbox';

const A = '00000000-0000-4000-8000-00000000000a';
const B = '00000000-0000-4000-8000-00000000000b';

async function queue(userId: string, items: [string, string][]) {
	const db = openUserDb(userId);
	for (const [conversationId, body] of items) await enqueueMessage(db, { conversationId, senderId: userId, body });
	return db;
}

describe('background sync without a tab (sendQueued)', () => {
	it('posts every queued message in clientSeq order per conversation and applies each ack', async () => {
		const user = `sw-${Math.random()}`;
		const db = await queue(user, [
			[A, 'a1'],
			[B, 'b1'],
			[A, 'a2']
		]);
		const posted: { conversationId: string; clientSeq: number; body: string }[] = [];
		let seq = 0;
		await sendQueued(user, async (_url, init) => {
			const send = JSON.parse(String(init?.body));
			posted.push({ conversationId: send.conversationId, clientSeq: send.clientSeq, body: send.body });
			return new Response(
				JSON.stringify({ id: send.id, conversationId: send.conversationId, seq: ++seq, createdAt: new Date().toISOString() })
			);
		});
		expect(posted.filter((p) => p.conversationId === A).map((p) => [p.clientSeq, p.body])).toEqual([
			[1, 'a1'],
			[2, 'a2']
		]);
		expect(posted.filter((p) => p.conversationId === B).map((p) => p.body)).toEqual(['b1']);
		expect(await db.outbox.count()).toBe(0);
		expect((await db.messages.toArray()).map((m) => m.status)).toEqual(['sent', 'sent', 'sent']);
	});

	it('stops a conversation at the first refusal, leaves the rest queued, and rejects while unreachable', async () => {
		const user = `sw-${Math.random()}`;
		const db = await queue(user, [
			[A, 'a1'],
			[A, 'a2']
		]);
		let calls = 0;
		await sendQueued(user, async () => {
			calls++;
			return new Response(JSON.stringify({ error: { code: 'rate_limited' } }), { status: 429 });
		});
		expect(calls).toBe(1);
		expect(await db.outbox.count()).toBe(2);

		await expect(sendQueued(user, () => Promise.reject(new TypeError('Failed to fetch')))).rejects.toThrow('still offline');
		expect(await db.outbox.count()).toBe(2);
	});

	it("leaves a server's own 503 to the tab instead of asking the browser to retry", async () => {
		const user = `sw-${Math.random()}`;
		const db = await queue(user, [[A, 'a1']]);
		await sendQueued(
			user,
			async () => new Response(JSON.stringify({ error: { code: 'unavailable', message: 'database away' } }), { status: 503 })
		);
		expect(await db.outbox.count()).toBe(1);
	});

	it('goes on with the other conversations when one is refused', async () => {
		const user = `sw-${Math.random()}`;
		const db = await queue(user, [
			[A, 'a1'],
			[B, 'b1']
		]);
		await sendQueued(user, async (_url, init) => {
			const send = JSON.parse(String(init?.body));
			if (send.conversationId === A) return new Response(JSON.stringify({ error: { code: 'forbidden', message: 'no' } }), { status: 403 });
			return new Response(
				JSON.stringify({ id: send.id, conversationId: send.conversationId, seq: 1, createdAt: new Date().toISOString() })
			);
		});
		expect((await db.outbox.toArray()).map((o) => o.conversationId)).toEqual([A]);
	});

	it('then sends each acked message’s queued changes in order, and applies the answers', async () => {
		const user = `sw-${Math.random()}`;
		const db = await queue(user, [[A, 'typo']]);
		const [m] = await db.messages.toArray();
		await queueChange(db, user, m, { op: 'edit', messageId: m.id, body: 'fixed' });
		await queueChange(db, user, m, { op: 'react', messageId: m.id, emoji: '👍' });
		const calls: string[] = [];
		let version = 0;
		await sendQueued(user, async (url, init) => {
			calls.push(`${init?.method} ${decodeURIComponent(String(url))}`);
			if (String(url) === '/api/messages')
				return new Response(JSON.stringify({ id: m.id, conversationId: A, seq: 1, createdAt: m.createdAt }));
			const body = init?.method === 'PATCH' ? JSON.parse(String(init.body)).body : 'fixed';
			return new Response(JSON.stringify({ message: { ...m, seq: 1, body, version: ++version } }));
		});
		expect(calls).toEqual(['POST /api/messages', `PATCH /api/messages/${m.id}`, `PUT /api/messages/${m.id}/reactions/👍`]);
		expect(await db.changes.count()).toBe(0);
		expect((await db.messages.get(m.id))?.version).toBe(2);
	});
});
