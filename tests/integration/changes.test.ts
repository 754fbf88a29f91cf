/**
 * Reply, edit, delete and react (PROTOCOL.md "Changing messages") against the real server: every
 * status of the section, what history, lastMessage and search show afterwards, message_updated on
 * every member's streams (WebSocket and SSE, own connections included, replayed from a cursor,
 * across a restart and across instances), and concurrent changes converging on the last commit.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
	createPostgresDatabase,
	describeEngines,
	signedInClient,
	SseClient,
	startServer,
	WsClient,
	type ApiClient,
	type EngineName,
	type TestServer,
	signedInPair,
	type Person
} from './harness';

/** One client install of a person: its sends carry one clientId and consecutive clientSeqs. */
function sender(person: Person, conversationId: string) {
	const clientId = randomUUID();
	let clientSeq = 0;
	return async (body: string, replyTo: string | null = null) => {
		const id = randomUUID();
		const res = await person.client.post('/api/messages', { id, conversationId, clientId, clientSeq: ++clientSeq, body, replyTo });
		expect(res.status).toBe(200);
		return id;
	};
}

const emojiPath = (id: string, emoji: string) => `/api/messages/${id}/reactions/${encodeURIComponent(emoji)}`;
const edit = (client: ApiClient, id: string, body: string) => client.request('PATCH', `/api/messages/${id}`, { body });
const remove = (client: ApiClient, id: string) => client.request('DELETE', `/api/messages/${id}`);
const react = (client: ApiClient, id: string, emoji: string) => client.request('PUT', emojiPath(id, emoji));
const unreact = (client: ApiClient, id: string, emoji: string) => client.request('DELETE', emojiPath(id, emoji));

const updatesOf = (frames: any[], id: string) => frames.filter((f) => f.type === 'message_updated' && f.message.id === id);

describeEngines('message changes', (engine) => {
	let server: TestServer;
	beforeAll(async () => {
		// Long enough that a send held for its gap never commits ahead of it on a slow machine.
		server = await startServer({ engine, env: { GAP_TIMEOUT_MS: '30000' } });
	});
	afterAll(async () => {
		await server?.stop();
	});

	test('every status of the section: 404 for strangers and unknown ids, 403 for a member who is not the sender, 409 once deleted, 400 for bad input', async () => {
		const { alice, bob, conversationId } = await signedInPair(server.origin);
		const stranger = await signedInClient(server.origin);
		const id = await sender(alice, conversationId)('hello');
		for (const [who, res] of [
			['unknown id', await edit(alice.client, randomUUID(), 'x')],
			['not a uuid', await edit(alice.client, 'not-a-uuid', 'x')],
			['stranger edits', await edit(stranger.client, id, 'x')],
			['stranger deletes', await remove(stranger.client, id)],
			['stranger reacts', await react(stranger.client, id, '👍')],
			['stranger reads', await stranger.client.get(`/api/messages/${id}`)],
			['unknown read', await alice.client.get(`/api/messages/${randomUUID()}`)]
		] as const) {
			expect(res.status, who).toBe(404);
			expect(res.body.error.code, who).toBe('not_found');
		}
		expect((await edit(bob.client, id, 'mine now')).body.error.code).toBe('forbidden');
		expect((await remove(bob.client, id)).status).toBe(403);
		expect((await edit(alice.client, id, '   ')).status).toBe(400);
		expect((await edit(alice.client, id, 'x'.repeat(4001))).status).toBe(400);
		const raw = await alice.client.request('PATCH', `/api/messages/${id}`, undefined, {
			raw: '{"body": "x"}',
			headers: { 'content-type': 'text/plain' }
		});
		expect(raw.status).toBe(415);
		// Not one emoji: two, text, nothing, too long, a lone surrogate (as UTF-8 bytes), broken escapes.
		for (const segment of [
			encodeURIComponent('👍👍'),
			'ok',
			'',
			'a'.repeat(65),
			encodeURIComponent('👍'.repeat(17)),
			'%ED%A0%BD',
			'%E0%A4%A',
			'%ZZ'
		]) {
			const res = await bob.client.request('PUT', `/api/messages/${id}/reactions/${segment}`);
			expect(res.status, segment).toBe(400);
			expect(res.body.error.code, segment).toBe('bad_request');
		}
		// Nothing above changed the message.
		const now = await bob.client.get(`/api/messages/${id}`);
		expect(now.status).toBe(200);
		expect(now.body.message).toMatchObject({ body: 'hello', version: 0, editedAt: null, deletedAt: null, reactions: [] });

		expect((await remove(alice.client, id)).status).toBe(200);
		expect((await edit(alice.client, id, 'too late')).body.error.code).toBe('conflict');
		expect((await react(bob.client, id, '👍')).status).toBe(409);
		expect((await unreact(bob.client, id, '👍')).status).toBe(409);
		expect((await remove(bob.client, id)).status).toBe(403);
	});

	test('edit, react and delete: each answers the message as it now is; repeats change nothing and send no event', async () => {
		const { alice, bob, conversationId } = await signedInPair(server.origin);
		const bobWs = await WsClient.connect(server.origin, bob.client.cookie);
		const send = sender(alice, conversationId);
		const id = await send('first draft');

		const edited = await edit(alice.client, id, 'second draft');
		expect(edited.status).toBe(200);
		expect(edited.body.message).toMatchObject({ id, seq: 1, body: 'second draft', version: 1, deletedAt: null });
		expect(Date.parse(edited.body.message.editedAt)).not.toBeNaN();
		const same = await edit(alice.client, id, 'second draft');
		expect(same.body.message).toEqual(edited.body.message);

		// Emojis in the order first chosen, users in the order they chose.
		await react(bob.client, id, '👍');
		await react(alice.client, id, '❤️');
		const both = await react(bob.client, id, '❤️');
		expect(both.body.message.reactions).toEqual([
			{ emoji: '👍', userIds: [bob.user.id] },
			{ emoji: '❤️', userIds: [alice.user.id, bob.user.id] }
		]);
		expect(both.body.message.version).toBe(4);
		expect((await react(bob.client, id, '❤️')).body.message).toEqual(both.body.message);
		expect((await unreact(alice.client, id, '😀')).body.message).toEqual(both.body.message);
		const less = await unreact(bob.client, id, '👍');
		expect(less.body.message.reactions).toEqual([{ emoji: '❤️', userIds: [alice.user.id, bob.user.id] }]);

		const deleted = await remove(alice.client, id);
		expect(deleted.status).toBe(200);
		expect(deleted.body.message).toMatchObject({
			id,
			seq: 1,
			senderId: alice.user.id,
			body: '',
			reactions: [],
			attachments: [],
			version: 6
		});
		expect(deleted.body.message.createdAt).toBe(edited.body.message.createdAt);
		expect(Date.parse(deleted.body.message.deletedAt)).not.toBeNaN();
		expect((await remove(alice.client, id)).body.message).toEqual(deleted.body.message);

		// One event per change that changed something (versions 1..6), none for the repeats.
		const witness = await send('witness');
		await bobWs.waitFor((f) => f.type === 'message' && f.message.id === witness);
		expect(updatesOf(bobWs.frames, id).map((f) => f.message.version)).toEqual([1, 2, 3, 4, 5, 6]);
		expect(updatesOf(bobWs.frames, id).at(-1).message).toEqual(deleted.body.message);
		bobWs.close();
	});

	test("replyTo: a stored message of the same conversation, or one's own still held in the sequence buffer; anything else is 400 and stores nothing", async () => {
		const { alice, bob, conversationId } = await signedInPair(server.origin);
		const other = await signedInPair(server.origin);
		const elsewhere = await sender(other.alice, other.conversationId)('another conversation');
		const original = await sender(bob, conversationId)('question');
		const send = sender(alice, conversationId);
		const answer = await send('answer', original);
		expect((await alice.client.get(`/api/messages/${answer}`)).body.message.replyTo).toBe(original);

		for (const replyTo of [elsewhere, randomUUID()]) {
			const id = randomUUID();
			const res = await alice.client.post('/api/messages', {
				id,
				conversationId,
				clientId: randomUUID(),
				clientSeq: 1,
				body: 'lost',
				replyTo
			});
			expect(res.status).toBe(400);
			expect(res.body.error.code).toBe('bad_request');
			expect((await alice.client.get(`/api/messages/${id}`)).status).toBe(404);
		}
		// clientSeq 2 replies to 1, and arrives first: the buffer holds it until 1 is committed.
		const clientId = randomUUID();
		const first = { id: randomUUID(), conversationId, clientId, clientSeq: 1, body: 'one', replyTo: null };
		const second = { id: randomUUID(), conversationId, clientId, clientSeq: 2, body: 'two', replyTo: first.id };
		const held = alice.client.post('/api/messages', second);
		const ws = await WsClient.connect(server.origin, alice.client.cookie);
		ws.send({ type: 'send', ...first });
		await ws.waitFor((f) => f.type === 'ack' && f.id === first.id);
		expect((await held).status).toBe(200);
		const history = await alice.client.get(`/api/conversations/${conversationId}/messages`);
		expect(history.body.messages.map((m: any) => [m.body, m.replyTo])).toEqual([
			['question', null],
			['answer', original],
			['one', null],
			['two', first.id]
		]);
		ws.close();
	});

	test('a resend of an id that was edited or deleted since gets the same ack; a different conversation or replyTo is still 409', async () => {
		const { alice, conversationId } = await signedInPair(server.origin);
		const original = await sender(alice, conversationId)('original');
		const message = { id: randomUUID(), conversationId, clientId: randomUUID(), clientSeq: 1, body: 'before', replyTo: null };
		const ack = await alice.client.post('/api/messages', message);
		await edit(alice.client, message.id, 'after');
		expect((await alice.client.post('/api/messages', message)).body).toEqual(ack.body);
		expect((await alice.client.post('/api/messages', { ...message, replyTo: original })).status).toBe(409);
		await remove(alice.client, message.id);
		expect((await alice.client.post('/api/messages', message)).body).toEqual(ack.body);
		const other = await signedInPair(server.origin);
		expect((await alice.client.post('/api/messages', { ...message, conversationId: other.conversationId })).status).toBe(409);
	});

	test('history, lastMessage and search show messages as they now are; search never finds a deleted one', async () => {
		const { alice, bob, conversationId } = await signedInPair(server.origin);
		const word = `w${randomUUID().slice(0, 8)}`;
		const send = sender(alice, conversationId);
		const kept = await send(`${word} apples`);
		const gone = await send(`${word} pears`);
		await edit(alice.client, kept, `${word} oranges`);
		await react(bob.client, kept, '🎉');
		await remove(alice.client, gone);

		const history = await bob.client.get(`/api/conversations/${conversationId}/messages`);
		expect(history.body.messages.map((m: any) => [m.body, m.reactions, m.deletedAt !== null])).toEqual([
			[`${word} oranges`, [{ emoji: '🎉', userIds: [bob.user.id] }], false],
			['', [], true]
		]);
		const listed = await bob.client.get('/api/conversations');
		const conversation = listed.body.conversations.find((c: any) => c.id === conversationId);
		expect(conversation.lastMessage).toMatchObject({ id: gone, body: '', reactions: [] });
		expect(conversation.lastMessage.deletedAt).not.toBeNull();

		const hits = async (q: string) =>
			(await bob.client.get(`/api/search?q=${encodeURIComponent(q)}`)).body.results.map((r: any) => r.message.id);
		expect(await hits(word)).toEqual([kept]);
		expect(await hits(`${word} oranges`)).toEqual([kept]);
		expect(await hits(`${word} apples`)).toEqual([]);
		expect(await hits(`${word} pears`)).toEqual([]);
		const [hit] = (await bob.client.get(`/api/search?q=${word}`)).body.results;
		expect(hit.message.reactions).toEqual([{ emoji: '🎉', userIds: [bob.user.id] }]);
	});

	test("message_updated reaches both members over WebSocket and SSE, the sender's other connections included; the change frame answers changed", async () => {
		const { alice, bob, conversationId } = await signedInPair(server.origin);
		const aliceWs = await WsClient.connect(server.origin, alice.client.cookie);
		const aliceSse = await SseClient.connect(server.origin, alice.client.cookie);
		const bobWs = await WsClient.connect(server.origin, bob.client.cookie);
		const bobSse = await SseClient.connect(server.origin, bob.client.cookie);
		const id = await sender(alice, conversationId)('hello');

		const frame = randomUUID();
		aliceWs.send({ type: 'change', id: frame, change: { op: 'edit', messageId: id, body: 'hello, edited' } });
		const changed = await aliceWs.waitFor((f) => f.id === frame);
		expect(changed).toMatchObject({ type: 'changed', id: frame, message: { id, body: 'hello, edited', version: 1 } });
		for (const ws of [aliceWs, bobWs]) {
			const event = await ws.waitFor((f) => f.type === 'message_updated' && f.message.id === id);
			expect(event.message).toEqual(changed.message);
			expect(typeof event.cursor).toBe('string');
		}
		for (const sse of [aliceSse, bobSse]) {
			const event = await sse.waitFor((e) => e.event === 'message_updated' && e.data.message.id === id);
			expect(event.data.message).toEqual(changed.message);
			expect(event.id).toBe(event.data.cursor);
		}
		// Errors answer the frame's id: bob may not edit alice's message.
		const refused = randomUUID();
		bobWs.send({ type: 'change', id: refused, change: { op: 'delete', messageId: id } });
		expect(await bobWs.waitFor((f) => f.id === refused)).toMatchObject({ type: 'error', code: 'forbidden', id: refused });
		const bad = randomUUID();
		bobWs.send({ type: 'change', id: bad, change: { op: 'react', messageId: id, emoji: 'no' } });
		expect(await bobWs.waitFor((f) => f.id === bad)).toMatchObject({ type: 'error', code: 'bad_request', id: bad });
		for (const c of [aliceWs, bobWs, aliceSse, bobSse]) c.close();
	});

	test('resuming from a cursor replays each message_updated exactly once, in cursor order, rendered as the message now is', async () => {
		const { alice, bob, conversationId } = await signedInPair(server.origin);
		const first = await WsClient.connect(server.origin, bob.client.cookie);
		const start = (await first.waitFor((f) => f.type === 'ready')).cursor;
		first.close();
		const id = await sender(alice, conversationId)('v0');
		await edit(alice.client, id, 'v1');
		await react(alice.client, id, '👍');
		const resumed = await WsClient.connect(server.origin, bob.client.cookie, { cursor: start });
		const updates = await resumed.waitForCount((f) => f.type === 'message_updated', 2);
		const witness = await sender(bob, conversationId)('after');
		await resumed.waitFor((f) => f.type === 'message' && f.message.id === witness);
		expect(updatesOf(resumed.frames, id)).toHaveLength(2);
		const cursors = resumed.frames.filter((f) => f.cursor && f.type !== 'ready').map((f) => Number(f.cursor));
		expect(cursors).toEqual([...cursors].sort((a, b) => a - b));
		expect(new Set(cursors).size).toBe(cursors.length);
		for (const update of updates) expect(update.message).toMatchObject({ body: 'v1', version: 2 });
		// SSE from the same cursor, with Last-Event-ID: the same two, once each.
		const sse = await SseClient.connect(server.origin, bob.client.cookie, { lastEventId: start });
		await sse.waitFor((e) => e.event === 'message' && e.data.message.id === witness);
		expect(sse.events.filter((e) => e.event === 'message_updated').map((e) => e.id)).toEqual(updates.map((u) => u.cursor));
		resumed.close();
		sse.close();
	});

	test("edit racing delete, many rounds: the last commit wins and every member's stream ends on the same version", async () => {
		const { alice, bob, conversationId } = await signedInPair(server.origin);
		const aliceWs = await WsClient.connect(server.origin, alice.client.cookie);
		const bobWs = await WsClient.connect(server.origin, bob.client.cookie);
		const send = sender(alice, conversationId);
		for (let round = 0; round < 8; round++) {
			const id = await send(`round ${round}`);
			const [edited, deleted] = await Promise.all([edit(alice.client, id, `round ${round} edited`), remove(alice.client, id)]);
			expect(deleted.status).toBe(200);
			// The edit either committed first (then the delete is version 2) or found it deleted.
			if (edited.status === 200) expect(deleted.body.message.version).toBe(2);
			else {
				expect(edited.status).toBe(409);
				expect(deleted.body.message.version).toBe(1);
			}
			const final = (await bob.client.get(`/api/messages/${id}`)).body.message;
			expect(final).toEqual(deleted.body.message);
			for (const ws of [aliceWs, bobWs]) {
				await ws.waitFor((f) => f.type === 'message_updated' && f.message.id === id && f.message.version === final.version);
				expect(updatesOf(ws.frames, id).at(-1).message).toEqual(final);
			}
		}
		aliceWs.close();
		bobWs.close();
	});

	test('two edits at once from two connections of the sender converge; versions strictly increase in every stream', async () => {
		const { alice, bob, conversationId } = await signedInPair(server.origin);
		const one = await WsClient.connect(server.origin, alice.client.cookie);
		const two = await WsClient.connect(server.origin, alice.client.cookie);
		const bobWs = await WsClient.connect(server.origin, bob.client.cookie);
		const id = await sender(alice, conversationId)('start');
		const ROUNDS = 10;
		const answers = [];
		for (let round = 0; round < ROUNDS; round++) {
			const frames = [randomUUID(), randomUUID()];
			one.send({ type: 'change', id: frames[0], change: { op: 'edit', messageId: id, body: `one ${round}` } });
			two.send({ type: 'change', id: frames[1], change: { op: 'edit', messageId: id, body: `two ${round}` } });
			answers.push(await one.waitFor((f) => f.id === frames[0]), await two.waitFor((f) => f.id === frames[1]));
		}
		for (const a of answers) expect(a.type).toBe('changed');
		const versions = answers.map((a) => a.message.version);
		expect(new Set(versions).size).toBe(2 * ROUNDS);
		const last = answers.reduce((a, b) => (a.message.version > b.message.version ? a : b)).message;
		expect(last.version).toBe(2 * ROUNDS);
		expect((await bob.client.get(`/api/messages/${id}`)).body.message).toEqual(last);
		for (const ws of [one, two, bobWs]) {
			await ws.waitFor((f) => f.type === 'message_updated' && f.message.id === id && f.message.version === last.version);
			const seen = updatesOf(ws.frames, id).map((f) => f.message.version);
			expect(seen).toEqual(Array.from({ length: 2 * ROUNDS }, (_, i) => i + 1));
			expect(updatesOf(ws.frames, id).at(-1).message).toEqual(last);
		}
		for (const ws of [one, two, bobWs]) ws.close();
	});

	test('both members react at once: both reactions are kept', async () => {
		const { alice, bob, conversationId } = await signedInPair(server.origin);
		for (let round = 0; round < 5; round++) {
			const id = await sender(alice, conversationId)(`react to me ${round}`);
			const [a, b] = await Promise.all([react(alice.client, id, '🔥'), react(bob.client, id, '🔥')]);
			expect([a.status, b.status]).toEqual([200, 200]);
			const final = (await alice.client.get(`/api/messages/${id}`)).body.message;
			expect(final.version).toBe(2);
			expect(final.reactions).toHaveLength(1);
			expect([...final.reactions[0].userIds].sort()).toEqual([alice.user.id, bob.user.id].sort());
			// Whoever committed second saw the first one's reaction too.
			expect([a.body.message, b.body.message].find((m) => m.version === 2)).toEqual(final);
		}
	});
});

function restartable(engine: EngineName) {
	let dir: string | undefined;
	let databaseUrl = '';
	return {
		async start(port?: number) {
			if (engine === 'pglite') dir ??= mkdtempSync(path.join(os.tmpdir(), 'duet-changes-'));
			else databaseUrl ||= await createPostgresDatabase();
			return startServer({ engine, port, databaseUrl, env: dir ? { PGLITE_DIR: dir } : {} });
		},
		cleanup() {
			if (dir) rmSync(dir, { recursive: true, force: true });
		}
	};
}

describeEngines('message changes across a restart', (engine) => {
	const data = restartable(engine);
	let server: TestServer;
	beforeAll(async () => {
		server = await data.start();
	});
	afterAll(async () => {
		await server?.stop();
		data.cleanup();
	});

	test('changes made before a restart are replayed from a cursor after it, once each; changes after it are live', async () => {
		const { alice, bob, conversationId } = await signedInPair(server.origin);
		const ws = await WsClient.connect(server.origin, bob.client.cookie);
		const start = (await ws.waitFor((f) => f.type === 'ready')).cursor;
		ws.close();
		const id = await sender(alice, conversationId)('before');
		await edit(alice.client, id, 'before, edited');
		await react(bob.client, id, '👀');
		expect(await server.stop()).toBe(0);
		server = await data.start(server.port);

		const resumed = await WsClient.connect(server.origin, bob.client.cookie, { cursor: start });
		const replayed = await resumed.waitForCount((f) => f.type === 'message_updated', 2);
		expect(replayed.map((f) => f.message)).toEqual([replayed[1].message, replayed[1].message]);
		expect(replayed[1].message).toMatchObject({ body: 'before, edited', version: 2, reactions: [{ emoji: '👀', userIds: [bob.user.id] }] });
		const after = await remove(alice.client, id);
		expect(after.body.message.version).toBe(3);
		const live = await resumed.waitFor((f) => f.type === 'message_updated' && f.message.version === 3);
		expect(live.message).toEqual(after.body.message);
		expect(updatesOf(resumed.frames, id)).toHaveLength(3);
		resumed.close();
	});
});

describe.skipIf(!process.env.TEST_DATABASE_URL)('message changes on two instances (PostgreSQL bus)', () => {
	let one: TestServer;
	let two: TestServer;
	beforeAll(async () => {
		const databaseUrl = await createPostgresDatabase();
		one = await startServer({ engine: 'postgres', databaseUrl });
		two = await startServer({ engine: 'postgres', databaseUrl });
	});
	afterAll(async () => {
		await Promise.all([one?.stop(), two?.stop()]);
	});

	test("a change made on instance A is seen live on instance B, by the other member and the sender's own connection", async () => {
		const { alice, bob, conversationId } = await signedInPair(one.origin, two.origin);
		const bobOnTwo = await WsClient.connect(two.origin, bob.client.cookie);
		const aliceOnTwo = await SseClient.connect(two.origin, alice.client.cookie);
		const id = await sender(alice, conversationId)('across');
		const changed = await edit(alice.client, id, 'across, edited');
		expect(changed.status).toBe(200);
		const seen = await bobOnTwo.waitFor((f) => f.type === 'message_updated' && f.message.id === id);
		expect(seen.message).toEqual(changed.body.message);
		const own = await aliceOnTwo.waitFor((e) => e.event === 'message_updated' && e.data.message.id === id);
		expect(own.data.message).toEqual(changed.body.message);
		// And back: bob reacts on B, alice's stream on B sees the version A's row lock made next.
		const reacted = await react(bob.client, id, '👍');
		expect(reacted.body.message.version).toBe(2);
		await aliceOnTwo.waitFor((e) => e.event === 'message_updated' && e.data.message.version === 2);
		bobOnTwo.close();
		aliceOnTwo.close();
	});
});
