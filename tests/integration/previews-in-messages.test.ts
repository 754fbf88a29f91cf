/**
 * Link previews attached to messages, against the production server: a local site with OpenGraph
 * tags (let through by PREVIEW_ALLOW_PRIVATE_HOSTS only) serves the pages. The ack never waits for
 * the page (the site holds it until the ack was seen); both members then get a `message_updated`
 * with the preview, and history and a resumed stream show it. Edits move or drop it, a link that
 * fails gets none and no error, and the per-user limit refuses new fetches (endpoint 429, sends
 * without a preview) while cached previews stay free.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createPostgresDatabase, describeEngines, signedInClient, startServer, WsClient, type TestServer, signedInPair } from './harness';
import { startTcpProxy } from './proxies';

// A 1×1 PNG.
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=', 'base64');

let site: http.Server;
let siteOrigin: string;
const hits = new Map<string, number>();
/** Pages the site holds until the test releases them; each resolves `asked` when the request arrives. */
const held = new Map<string, { asked: () => void; release: Promise<void> }>();

function hold(path: string) {
	let release!: () => void;
	let asked!: () => void;
	const arrived = new Promise<void>((resolve) => (asked = resolve));
	held.set(path, { asked, release: new Promise<void>((resolve) => (release = resolve)) });
	return { arrived, release };
}

const page = (title: string) => `<html><head><title>Fallback</title>
	<meta property="og:title" content="${title}">
	<meta property="og:description" content="About ${title}.">
	<meta property="og:site_name" content="Local news">
	<meta property="og:image" content="/cover.png"></head><body>…</body></html>`;

beforeAll(async () => {
	site = http.createServer(async (req, res) => {
		const path = req.url ?? '/';
		hits.set(path, (hits.get(path) ?? 0) + 1);
		const gate = held.get(path);
		if (gate) {
			gate.asked();
			await gate.release;
		}
		if (path === '/cover.png') {
			res.writeHead(200, { 'content-type': 'image/png', 'content-length': PNG.length }).end(PNG);
		} else if (path.startsWith('/page/')) {
			res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page(path.slice('/page/'.length)));
		} else {
			res.writeHead(404, { 'content-type': 'text/html' }).end('<p>Not found</p>');
		}
	});
	await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
	siteOrigin = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
});

afterAll(async () => {
	site.closeAllConnections();
	await new Promise((resolve) => site.close(resolve));
});

const pageUrl = (name: string) => `${siteOrigin}/page/${name}`;
const previewOf = (name: string) => ({
	url: pageUrl(name),
	title: name,
	description: `About ${name}.`,
	siteName: 'Local news',
	imageUrl: `/api/previews/image?url=${encodeURIComponent(pageUrl(name))}`
});
const unique = (prefix: string) => `${prefix}-${randomUUID().slice(0, 8)}`;

/** A WebSocket sender: each send carries the next clientSeq of one clientId. */
function sender(ws: WsClient, conversationId: string) {
	const clientId = randomUUID();
	let clientSeq = 0;
	return async (body: string) => {
		const id = randomUUID();
		ws.send({ type: 'send', id, conversationId, clientId, clientSeq: ++clientSeq, body });
		const answer = await ws.waitFor((f) => f.id === id && (f.type === 'ack' || f.type === 'error'));
		expect(answer.type).toBe('ack');
		return id;
	};
}

const updateOf = (id: string, check: (message: any) => boolean) => (f: any) =>
	f.type === 'message_updated' && f.message.id === id && check(f.message);

describeEngines('link previews in messages', (engine) => {
	let server: TestServer;
	beforeAll(async () => {
		server = await startServer({ engine, env: { PREVIEW_ALLOW_PRIVATE_HOSTS: new URL(siteOrigin).host } });
	});
	afterAll(async () => {
		await server?.stop();
	});

	test('the ack does not wait for the page; both members then get the preview, in history, on resume and with its image', async () => {
		const { alice, bob, conversationId } = await signedInPair(server.origin);
		const aliceWs = await WsClient.connect(server.origin, alice.client.cookie);
		const bobWs = await WsClient.connect(server.origin, bob.client.cookie);
		const cursor = aliceWs.frames.find((f) => f.type === 'ready').cursor;
		const name = unique('held');
		const gate = hold(`/page/${name}`);
		// Acked while the site has not answered (it may not even have been asked yet).
		const id = await sender(aliceWs, conversationId)(`look: ${pageUrl(name)} !`);
		const sent = await bobWs.waitFor((f) => f.type === 'message' && f.message.id === id);
		expect(sent.message.preview).toBeNull();
		await gate.arrived;
		gate.release();

		const withPreview = (m: any) => m.preview !== null;
		const [forAlice, forBob] = await Promise.all([aliceWs.waitFor(updateOf(id, withPreview)), bobWs.waitFor(updateOf(id, withPreview))]);
		for (const update of [forAlice, forBob]) {
			expect(update.message.preview).toEqual(previewOf(name));
			expect(update.message).toMatchObject({ version: 1, editedAt: null, body: `look: ${pageUrl(name)} !` });
		}

		const history = await bob.client.get(`/api/conversations/${conversationId}/messages`);
		expect(history.body.messages.find((m: any) => m.id === id).preview).toEqual(previewOf(name));
		expect((await bob.client.get(`/api/messages/${id}`)).body.message.preview).toEqual(previewOf(name));
		const list = await bob.client.get('/api/conversations');
		expect(list.body.conversations.find((c: any) => c.id === conversationId).lastMessage.preview).toEqual(previewOf(name));

		// Resumed from before the send: the message as it now is, and its update.
		const resumed = await WsClient.connect(server.origin, alice.client.cookie, { cursor });
		const replayed = await resumed.waitFor(updateOf(id, withPreview));
		expect(replayed.message.preview).toEqual(previewOf(name));
		resumed.close();

		const image = await fetch(server.origin + forBob.message.preview.imageUrl, { headers: { cookie: bob.client.cookie! } });
		expect(image.status).toBe(200);
		expect(image.headers.get('content-type')).toBe('image/png');
		expect(Buffer.from(await image.arrayBuffer())).toEqual(PNG);
		// Fetched once, for both members.
		expect(hits.get(`/page/${name}`)).toBe(1);
		aliceWs.close();
		bobWs.close();
	});

	test('an edit to another link replaces the preview; an edit without a link removes it; so does a delete', async () => {
		const { alice, bob, conversationId } = await signedInPair(server.origin);
		const bobWs = await WsClient.connect(server.origin, bob.client.cookie);
		const aliceWs = await WsClient.connect(server.origin, alice.client.cookie);
		const [first, second] = [unique('first'), unique('second')];
		const id = await sender(aliceWs, conversationId)(pageUrl(first));
		await bobWs.waitFor(updateOf(id, (m) => m.preview?.url === pageUrl(first)));

		const edited = await alice.client.request('PATCH', `/api/messages/${id}`, { body: `better: ${pageUrl(second)}` });
		expect(edited.status).toBe(200);
		// The edit itself drops the old preview at once; the new one follows as an update of its own.
		expect(edited.body.message.preview).toBeNull();
		const replaced = await bobWs.waitFor(updateOf(id, (m) => m.preview !== null && m.version > edited.body.message.version));
		expect(replaced.message.preview).toEqual(previewOf(second));

		// An edit that keeps the link keeps the preview.
		const kept = await alice.client.request('PATCH', `/api/messages/${id}`, { body: `still ${pageUrl(second)}` });
		expect(kept.body.message.preview).toEqual(previewOf(second));

		const unlinked = await alice.client.request('PATCH', `/api/messages/${id}`, { body: 'never mind' });
		expect(unlinked.body.message.preview).toBeNull();
		const update = await bobWs.waitFor(updateOf(id, (m) => m.version === unlinked.body.message.version));
		expect(update.message.preview).toBeNull();
		expect((await bob.client.get(`/api/messages/${id}`)).body.message.preview).toBeNull();

		const other = unique('deleted');
		const doomed = await sender(aliceWs, conversationId)(pageUrl(other));
		await bobWs.waitFor(updateOf(doomed, (m) => m.preview !== null));
		const deleted = await alice.client.request('DELETE', `/api/messages/${doomed}`);
		expect(deleted.body.message).toMatchObject({ preview: null, body: '' });
		aliceWs.close();
		bobWs.close();
	});

	test('a link that fails gets no preview and no error, and the message is left as sent', async () => {
		const { alice, conversationId } = await signedInPair(server.origin);
		const aliceWs = await WsClient.connect(server.origin, alice.client.cookie);
		const missing = `${siteOrigin}/${unique('missing')}`;
		const id = await sender(aliceWs, conversationId)(`broken: ${missing}`);
		// The failure is cached once the send's fetch is done: asking now joins or reads it, no new hit.
		const asked = await alice.client.get(`/api/previews?url=${encodeURIComponent(missing)}`);
		expect(asked.body).toEqual({ preview: null });
		expect(hits.get(new URL(missing).pathname)).toBe(1);
		const message = (await alice.client.get(`/api/messages/${id}`)).body.message;
		expect(message).toMatchObject({ preview: null, version: 0 });
		expect(aliceWs.frames.filter((f) => f.type === 'error')).toEqual([]);
		// The stream goes on: a later send is acked as usual.
		await sender(aliceWs, conversationId)('after the broken link');
		aliceWs.close();
	});
});

describeEngines('link preview limit', (engine) => {
	let server: TestServer;
	beforeAll(async () => {
		server = await startServer({
			engine,
			env: { PREVIEW_ALLOW_PRIVATE_HOSTS: new URL(siteOrigin).host, RATE_LIMIT: 'on', PREVIEW_FETCHES_PER_MINUTE: '2' }
		});
	});
	afterAll(async () => {
		await server?.stop();
	});

	test('past N new fetches a minute the endpoint answers 429 with retry-after; cached previews never count', async () => {
		const { client } = await signedInClient(server.origin);
		const [one, two, three] = [unique('l1'), unique('l2'), unique('l3')];
		const ask = (name: string) => client.get(`/api/previews?url=${encodeURIComponent(pageUrl(name))}`);
		expect((await ask(one)).body.preview).toEqual(previewOf(one));
		expect((await ask(two)).body.preview).toEqual(previewOf(two));
		const refused = await ask(three);
		expect(refused.status).toBe(429);
		expect(refused.body.error.code).toBe('rate_limited');
		expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
		expect(hits.get(`/page/${three}`)).toBeUndefined();
		// Cached: free, however often.
		for (let i = 0; i < 3; i++) expect((await ask(one)).status).toBe(200);
		// Another user has a limit of their own.
		const other = await signedInClient(server.origin);
		expect((await other.client.get(`/api/previews?url=${encodeURIComponent(pageUrl(three))}`)).body.preview).toEqual(previewOf(three));
	});

	test('sends past the limit are sent all the same, without a preview', async () => {
		const { alice, bob, conversationId } = await signedInPair(server.origin);
		const aliceWs = await WsClient.connect(server.origin, alice.client.cookie);
		const bobWs = await WsClient.connect(server.origin, bob.client.cookie);
		const send = sender(aliceWs, conversationId);
		const names = [unique('s1'), unique('s2'), unique('s3')];
		const ids: string[] = [];
		for (const name of names.slice(0, 2)) {
			const id = await send(pageUrl(name));
			await bobWs.waitFor(updateOf(id, (m) => m.preview?.url === pageUrl(name)));
			ids.push(id);
		}
		const over = await send(`one too many: ${pageUrl(names[2])}`);
		// The endpoint agrees that this user is out of fetches (and fetched nothing either).
		expect((await alice.client.get(`/api/previews?url=${encodeURIComponent(pageUrl(names[2]))}`)).status).toBe(429);
		// A link already cached is free: its preview still comes.
		const cached = await send(`again: ${pageUrl(names[0])}`);
		await bobWs.waitFor(updateOf(cached, (m) => m.preview?.url === pageUrl(names[0])));
		expect(hits.get(`/page/${names[2]}`)).toBeUndefined();
		expect((await bob.client.get(`/api/messages/${over}`)).body.message).toMatchObject({ preview: null, version: 0 });
		expect(bobWs.frames.some(updateOf(over, () => true))).toBe(false);
		aliceWs.close();
		bobWs.close();
	});
});

describe.skipIf(!process.env.TEST_DATABASE_URL)('link previews in messages on two instances (PostgreSQL bus)', () => {
	let one: TestServer;
	let two: TestServer;
	beforeAll(async () => {
		const databaseUrl = await createPostgresDatabase();
		const env = { PREVIEW_ALLOW_PRIVATE_HOSTS: new URL(siteOrigin).host };
		one = await startServer({ engine: 'postgres', databaseUrl, env });
		two = await startServer({ engine: 'postgres', databaseUrl, env });
	});
	afterAll(async () => {
		await Promise.all([one?.stop(), two?.stop()]);
	});

	test('the instance that committed fetches the page once; the peer on the other instance gets the preview and its image', async () => {
		const { alice, bob, conversationId } = await signedInPair(one.origin);
		const aliceOnOne = await WsClient.connect(one.origin, alice.client.cookie);
		const bobOnTwo = await WsClient.connect(two.origin, bob.client.cookie);
		const name = unique('across');
		const id = await sender(aliceOnOne, conversationId)(pageUrl(name));
		const seen = await bobOnTwo.waitFor(updateOf(id, (m) => m.preview !== null));
		expect(seen.message.preview).toEqual(previewOf(name));
		expect(hits.get(`/page/${name}`)).toBe(1);
		const image = await fetch(two.origin + seen.message.preview.imageUrl, { headers: { cookie: bob.client.cookie! } });
		expect(image.status).toBe(200);
		aliceOnOne.close();
		bobOnTwo.close();
	});
});

describe.skipIf(!process.env.TEST_DATABASE_URL)('link previews while PostgreSQL is away [postgres]', () => {
	test('the follow-up write fails quietly: logged, the process stays up, the message keeps no preview', async () => {
		const base = new URL(await createPostgresDatabase());
		const proxy = await startTcpProxy(base.hostname, Number(base.port || 5432));
		const viaProxy = new URL(base);
		viaProxy.port = String(proxy.port);
		const server = await startServer({
			engine: 'postgres',
			databaseUrl: viaProxy.toString(),
			env: { PREVIEW_ALLOW_PRIVATE_HOSTS: new URL(siteOrigin).host }
		});
		try {
			const { alice, conversationId } = await signedInPair(server.origin);
			const ws = await WsClient.connect(server.origin, alice.client.cookie);
			const name = unique('cut');
			const gate = hold(`/page/${name}`);
			const id = await sender(ws, conversationId)(pageUrl(name));
			await gate.arrived;
			proxy.cut();
			gate.release();
			const logged = `Adding the link preview of message ${id} failed`;
			await until(() => server.output().includes(logged), 'the failure logged');
			expect(server.process.exitCode).toBeNull();
			expect((await alice.client.get('/healthz')).status).toBe(200);
			proxy.restore();
			await until(async () => (await alice.client.get('/readyz')).status === 200, 'ready again');
			expect((await alice.client.get(`/api/messages/${id}`)).body.message).toMatchObject({ preview: null, version: 0 });
			ws.close();
		} finally {
			await server.stop();
			await proxy.close();
		}
	});
});

/** Polls `condition` (an outside process's state, which sends no event) until it holds, for up to 30 s. */
async function until(condition: () => boolean | Promise<boolean>, what: string) {
	const deadline = Date.now() + 30_000;
	while (!(await condition())) {
		if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
		await new Promise((resolve) => setTimeout(resolve, 50));
	}
}
