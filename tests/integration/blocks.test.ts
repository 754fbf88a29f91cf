/**
 * Blocking and muting against the real server: a block either way refuses sends on every transport
 * (nothing stored, nobody told), refuses changes, stops typing and presence, and a send racing the
 * block is either committed before it or refused; unblocking restores all of it, and history stays.
 * Muting and blocking reach the user's other devices as `conversation` events.
 */
import { randomUUID } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { fetchAll } from './checker';
import {
	describeEngines,
	signedInClient,
	signedInPair,
	SseClient,
	startServer,
	WsClient,
	type ApiClient,
	type ApiResponse,
	type Person,
	type TestServer
} from './harness';

/** One client install sending to one conversation, over HTTP or a socket. */
function sender(client: ApiClient, conversationId: string) {
	const clientId = randomUUID();
	let clientSeq = 0;
	const next = (body: string) => ({ id: randomUUID(), conversationId, clientId, clientSeq: ++clientSeq, body });
	return {
		post: (body: string) => client.post('/api/messages', next(body)),
		/** Resolves with the ack or error frame answering the send. */
		overWs: async (ws: WsClient, body: string) => {
			const send = next(body);
			ws.send({ type: 'send', ...send });
			return ws.waitFor((f) => (f.type === 'ack' || f.type === 'error') && f.id === send.id);
		}
	};
}

function formSend(client: ApiClient, conversationId: string, body: string) {
	return client.request('POST', `/c/${conversationId}?/send`, undefined, {
		raw: new URLSearchParams({ id: randomUUID(), body }).toString(),
		headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' }
	});
}

const block = (person: Person, other: Person) => person.client.post('/api/blocks', { username: other.user.username });
const unblock = (person: Person, other: Person) => person.client.request('DELETE', `/api/blocks/${other.user.id}`);

/** Opens a conversation of `person` with `other` and has `other` send in it; resolves once `person`'s socket saw it. */
async function witness(person: Person, ws: WsClient, from: Person) {
	const opened = await from.client.post('/api/conversations', { username: person.user.username });
	const body = `witness ${randomUUID()}`;
	expect((await sender(from.client, opened.body.conversation.id).post(body)).status).toBe(200);
	await ws.waitFor((f) => f.type === 'message' && f.message.body === body);
}

describeEngines('blocking and muting', (engine) => {
	let server: TestServer;
	beforeAll(async () => {
		server = await startServer({ engine });
	}, 60_000);
	afterAll(async () => {
		await server?.stop();
	});

	test('blocks: idempotent, listed for the blocker only, never oneself or someone unknown', async () => {
		const { alice, bob, conversationId } = await signedInPair(server.origin);
		expect((await block(alice, bob)).status).toBe(204);
		expect((await block(alice, bob)).status).toBe(204);
		expect((await alice.client.get('/api/blocks')).body).toEqual({ users: [bob.user] });
		expect((await bob.client.get('/api/blocks')).body).toEqual({ users: [] });
		expect((await alice.client.post('/api/blocks', { username: alice.user.username.toUpperCase() })).status).toBe(400);
		const unknown = await alice.client.post('/api/blocks', { username: 'nobody_here_at_all' });
		expect(unknown.status).toBe(404);
		expect(unknown.body.error.code).toBe('not_found');
		expect((await alice.client.post('/api/blocks', { username: bob.user.username, extra: 1 })).status).toBe(400);
		// The blocker sees it on the conversation; the blocked person sees nothing.
		expect((await alice.client.get('/api/conversations')).body.conversations[0]).toMatchObject({ id: conversationId, blocked: true });
		expect((await bob.client.get('/api/conversations')).body.conversations[0]).toMatchObject({ id: conversationId, blocked: false });

		expect((await unblock(alice, bob)).status).toBe(204);
		expect((await unblock(alice, bob)).status).toBe(204);
		expect((await alice.client.request('DELETE', `/api/blocks/${randomUUID()}`)).status).toBe(204);
		expect((await alice.client.request('DELETE', '/api/blocks/not-a-uuid')).status).toBe(400);
		expect((await alice.client.get('/api/blocks')).body).toEqual({ users: [] });
		expect((await alice.client.get('/api/conversations')).body.conversations[0].blocked).toBe(false);
	});

	for (const direction of ['the sender blocks', 'the recipient blocks'] as const) {
		test(`${direction}: sends either way are forbidden on every transport, stored nowhere, told to nobody`, async () => {
			const { alice, bob, conversationId } = await signedInPair(server.origin);
			expect((await sender(bob.client, conversationId).post('before')).status).toBe(200);
			const carol = await signedInClient(server.origin);
			const aliceWs = await WsClient.connect(server.origin, alice.client.cookie);
			const bobWs = await WsClient.connect(server.origin, bob.client.cookie);
			// Alice's other device is on SSE (with sends over POST, as above).
			const aliceSse = await SseClient.connect(server.origin, alice.client.cookie);
			expect((await (direction === 'the sender blocks' ? block(bob, alice) : block(alice, bob))).status).toBe(204);

			for (const [from, ws] of [
				[bob, bobWs],
				[alice, aliceWs]
			] as const) {
				const install = sender(from.client, conversationId);
				const posted = await install.post('over POST');
				expect(posted.status).toBe(403);
				expect(posted.body.error.code).toBe('forbidden');
				const framed = await install.overWs(ws, 'over the socket');
				expect(framed).toMatchObject({ type: 'error', code: 'forbidden' });
				expect((await formSend(from.client, conversationId, 'from the form')).status).toBe(403);
				// A refused send does not hold back the client's next one: it is refused too, not left waiting.
				expect(await install.overWs(ws, 'again')).toMatchObject({ type: 'error', code: 'forbidden' });
			}

			// Events reach each user in log order: once the witness arrives, nothing else is coming.
			await witness(alice, aliceWs, carol);
			await witness(bob, bobWs, carol);
			for (const ws of [aliceWs, bobWs]) {
				expect(ws.frames.filter((f) => f.type === 'message' && f.message.conversationId === conversationId)).toEqual([]);
			}
			await aliceSse.waitFor((e) => e.event === 'message' && e.data.message.body.startsWith('witness'));
			expect(aliceSse.events.filter((e) => e.event === 'message' && e.data.message.conversationId === conversationId)).toEqual([]);
			aliceSse.close();
			// Earlier history stays readable on both sides.
			for (const person of [alice, bob]) expect((await fetchAll(person.client, conversationId)).map((m) => m.body)).toEqual(['before']);
			aliceWs.close();
			bobWs.close();
		});
	}

	test('edits, deletes and reactions between them are forbidden; unblocking restores sends and typing', async () => {
		const { alice, bob, conversationId } = await signedInPair(server.origin);
		const sent = await sender(bob.client, conversationId).post('kept');
		const messageId = sent.body.id;
		expect((await block(alice, bob)).status).toBe(204);
		const edit = await bob.client.request('PATCH', `/api/messages/${messageId}`, { body: 'changed' });
		expect(edit.status).toBe(403);
		expect(edit.body.error.code).toBe('forbidden');
		expect((await bob.client.request('DELETE', `/api/messages/${messageId}`)).status).toBe(403);
		expect((await alice.client.request('PUT', `/api/messages/${messageId}/reactions/${encodeURIComponent('👍')}`)).status).toBe(403);
		expect((await alice.client.get(`/api/messages/${messageId}`)).body.message).toMatchObject({ body: 'kept', reactions: [] });

		expect((await unblock(alice, bob)).status).toBe(204);
		const aliceWs = await WsClient.connect(server.origin, alice.client.cookie);
		expect((await sender(bob.client, conversationId).post('after')).status).toBe(200);
		expect((await sender(alice.client, conversationId).post('reply')).status).toBe(200);
		expect((await bob.client.request('PATCH', `/api/messages/${messageId}`, { body: 'changed' })).status).toBe(200);
		expect((await bob.client.post('/api/typing', { conversationId })).status).toBe(204);
		await aliceWs.waitFor((f) => f.type === 'typing' && f.userId === bob.user.id);
		expect((await fetchAll(alice.client, conversationId)).map((m) => m.body)).toEqual(['changed', 'after', 'reply']);
		aliceWs.close();
	});

	test('neither sees the other typing or online; the block itself turns each offline for the other', async () => {
		const { alice, bob, conversationId } = await signedInPair(server.origin);
		const carol = await signedInClient(server.origin);
		expect((await carol.client.post('/api/conversations', { username: alice.user.username })).status).toBe(200);
		expect((await carol.client.post('/api/conversations', { username: bob.user.username })).status).toBe(200);
		const aliceWs = await WsClient.connect(server.origin, alice.client.cookie);
		const bobWs = await WsClient.connect(server.origin, bob.client.cookie);
		await aliceWs.waitFor((f) => f.type === 'presence' && f.userId === bob.user.id && f.online);
		await bobWs.waitFor((f) => f.type === 'presence' && f.userId === alice.user.id && f.online);

		expect((await block(bob, alice)).status).toBe(204);
		await aliceWs.waitFor((f) => f.type === 'presence' && f.userId === bob.user.id && !f.online);
		await bobWs.waitFor((f) => f.type === 'presence' && f.userId === alice.user.id && !f.online);

		expect((await alice.client.post('/api/typing', { conversationId })).status).toBe(204);
		bobWs.send({ type: 'typing', conversationId });
		// Carol's typing in each of their conversations with her comes after and does arrive.
		for (const [person, ws] of [
			[alice, aliceWs],
			[bob, bobWs]
		] as const) {
			const withCarol = (await carol.client.post('/api/conversations', { username: person.user.username })).body.conversation.id;
			expect((await carol.client.post('/api/typing', { conversationId: withCarol })).status).toBe(204);
			await ws.waitFor((f) => f.type === 'typing' && f.userId === carol.user.id);
			expect(ws.frames.filter((f) => f.type === 'typing' && f.conversationId === conversationId)).toEqual([]);
		}

		// A new connection is told of no blocked peer's presence, and nobody blocked is told of it.
		const carolWs = await WsClient.connect(server.origin, carol.client.cookie);
		const seen = aliceWs.frames.length;
		const again = await WsClient.connect(server.origin, bob.client.cookie);
		again.send({ type: 'ping' });
		await again.waitFor((f) => f.type === 'pong');
		expect(again.frames.filter((f) => f.type === 'presence').map((f) => f.userId)).toEqual([carol.user.id]);
		// Bob's connecting again announced nothing (he was online already); his leaving for good neither reaches Alice.
		bobWs.close();
		again.close();
		await carolWs.waitFor((f) => f.type === 'presence' && f.userId === bob.user.id && !f.online && f.lastSeenAt);
		await witness(alice, aliceWs, carol);
		expect(aliceWs.frames.slice(seen).filter((f) => f.type === 'presence' && f.userId === bob.user.id)).toEqual([]);

		// Unblocking introduces them again.
		const bobBack = await WsClient.connect(server.origin, bob.client.cookie);
		expect((await unblock(bob, alice)).status).toBe(204);
		await aliceWs.waitFor((f) => aliceWs.frames.indexOf(f) >= seen && f.type === 'presence' && f.userId === bob.user.id && f.online);
		await bobBack.waitFor((f) => f.type === 'presence' && f.userId === alice.user.id && f.online);
		for (const ws of [aliceWs, bobBack, carolWs]) ws.close();
	});

	test('a send racing the block is committed before it or refused, never acknowledged after it', async () => {
		const { alice, bob, conversationId } = await signedInPair(server.origin);
		const aliceWs = await WsClient.connect(server.origin, alice.client.cookie);
		const bobWs = await WsClient.connect(server.origin, bob.client.cookie);
		// Several installs, so batches hold sends of more than one client when the block lands.
		const installs = Array.from({ length: 4 }, () => sender(bob.client, conversationId));
		const answers = installs.flatMap((install, i) => Array.from({ length: 60 }, (_, n) => install.overWs(bobWs, `race ${i}.${n}`)));
		await bobWs.waitFor((f) => f.type === 'ack');
		expect((await block(alice, bob)).status).toBe(204);
		const settled = await Promise.all(answers);
		const acked = settled.filter((f) => f.type === 'ack').map((f) => f.id);
		const refused = settled.filter((f) => f.type === 'error');
		expect(refused.every((f) => f.code === 'forbidden')).toBe(true);
		expect(acked.length + refused.length).toBe(240);

		// The block's own event and the messages share Alice's log, whose cursors follow commit order.
		const blocked = await aliceWs.waitFor(
			(f) => f.type === 'conversation' && f.conversation.id === conversationId && f.conversation.blocked
		);
		const events = aliceWs.frames.filter((f) => f.type === 'message' && f.message.conversationId === conversationId);
		expect(events.every((f) => Number(f.cursor) < Number(blocked.cursor))).toBe(true);
		expect(events.map((f) => f.message.id).sort()).toEqual([...acked].sort());
		expect((await fetchAll(alice.client, conversationId)).map((m) => m.id).sort()).toEqual([...acked].sort());
		aliceWs.close();
		bobWs.close();
	});

	test.runIf(engine === 'postgres')('a block that commits while a batch waits for its locks is seen by that batch', async () => {
		const { alice, bob, conversationId } = await signedInPair(server.origin);
		const sql = postgres(server.databaseUrl, { max: 1, onnotice: () => {} });
		try {
			let send: Promise<ApiResponse> | undefined;
			// What POST /api/blocks does, held open: both users locked, the block written, not committed.
			await sql.begin(async (tx) => {
				await tx`select id from users where id in (${alice.user.id}, ${bob.user.id}) order by id for no key update`;
				await tx`insert into blocks (blocker_id, blocked_id) values (${alice.user.id}, ${bob.user.id})`;
				send = sender(bob.client, conversationId).post('racing');
				const observer = postgres(server.databaseUrl, { max: 1, onnotice: () => {} });
				try {
					// The send's batch read its snapshot, then queued behind these locks.
					for (const deadline = Date.now() + 10_000; ;) {
						const [{ n }] =
							await observer`select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`;
						if (n > 0) break;
						if (Date.now() > deadline) throw new Error('the send never waited for the locks');
						await new Promise((resolve) => setTimeout(resolve, 10));
					}
				} finally {
					await observer.end();
				}
			});
			const answer = (await send)!;
			expect(answer.status).toBe(403);
			expect(answer.body.error.code).toBe('forbidden');
			expect(await fetchAll(alice.client, conversationId)).toEqual([]);
		} finally {
			await sql.end();
		}
	});

	test('mute and block show on the user’s other devices; mute is the member’s own and checked strictly', async () => {
		const { alice, bob, conversationId } = await signedInPair(server.origin);
		const otherDevice = await WsClient.connect(server.origin, alice.client.cookie);
		const bobWs = await WsClient.connect(server.origin, bob.client.cookie);
		const path = `/api/conversations/${conversationId}`;
		const muted = await alice.client.request('PATCH', path, { muted: true });
		expect(muted.status).toBe(200);
		expect(muted.body.conversation).toMatchObject({ id: conversationId, muted: true, blocked: false, peer: bob.user });
		await otherDevice.waitFor((f) => f.type === 'conversation' && f.conversation.muted === true);
		expect((await alice.client.get('/api/conversations')).body.conversations[0].muted).toBe(true);
		expect((await bob.client.get('/api/conversations')).body.conversations[0].muted).toBe(false);

		expect((await block(alice, bob)).status).toBe(204);
		const blocked = await otherDevice.waitFor(
			(f) => f.type === 'conversation' && f.conversation.blocked === true && f.conversation.muted === true
		);
		expect((await unblock(alice, bob)).status).toBe(204);
		const since = otherDevice.frames.indexOf(blocked);
		await otherDevice.waitFor(
			(f) => otherDevice.frames.indexOf(f) > since && f.type === 'conversation' && f.conversation.blocked === false
		);

		for (const body of [{}, { muted: 'yes' }, { muted: true, extra: 1 }, null, []]) {
			const refused = await alice.client.request('PATCH', path, body);
			expect(refused.status, JSON.stringify(body)).toBe(400);
		}
		const carol = await signedInClient(server.origin);
		expect((await carol.client.request('PATCH', path, { muted: true })).status).toBe(404);
		expect((await alice.client.request('PATCH', `/api/conversations/${randomUUID()}`, { muted: true })).status).toBe(404);
		expect((await alice.client.request('PATCH', '/api/conversations/nope', { muted: true })).status).toBe(404);
		expect((await alice.client.get('/api/conversations')).body.conversations[0].muted).toBe(true);

		// Bob was told nothing of any of it: his log got no conversation event.
		await witness(bob, bobWs, carol);
		expect(bobWs.frames.filter((f) => f.type === 'conversation' && f.conversation.id === conversationId)).toEqual([]);
		otherDevice.close();
		bobWs.close();
	});
});

describeEngines('blocking through the SvelteKit routes (FAST_PATH=off)', (engine) => {
	let server: TestServer;
	beforeAll(async () => {
		server = await startServer({ engine, env: { FAST_PATH: 'off' } });
	}, 60_000);
	afterAll(async () => {
		await server?.stop();
	});

	test('a send between a blocked pair is forbidden and not stored', async () => {
		const { alice, bob, conversationId } = await signedInPair(server.origin);
		expect((await block(bob, alice)).status).toBe(204);
		const posted = await sender(alice.client, conversationId).post('through the route');
		expect(posted.status).toBe(403);
		expect(posted.body.error.code).toBe('forbidden');
		expect(await fetchAll(bob.client, conversationId)).toEqual([]);
	});
});
