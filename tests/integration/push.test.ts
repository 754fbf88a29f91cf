/**
 * Web Push from the real server to a push endpoint this test runs itself: the endpoint checks the
 * VAPID authorisation and decrypts the aes128gcm payload with the subscription's private key, as
 * a browser's push service and browser would.
 */
import { execFileSync } from 'node:child_process';
import { createECDH, randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import type http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import ece from 'http_ece';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeEngines, signedInClient, startServer, WsClient, type TestServer } from './harness';

interface Received {
	path: string;
	headers: http.IncomingHttpHeaders;
	payload: any;
}

/**
 * A push service in miniature, over HTTPS like the real ones (web-push speaks nothing else), with
 * a throw-away self-signed certificate the server under test is told to trust (NODE_EXTRA_CA_CERTS).
 * One "browser" key pair; every delivery is decrypted and queued.
 */
async function pushEndpoint() {
	const dir = mkdtempSync(path.join(tmpdir(), 'duet-push-'));
	const certFile = path.join(dir, 'cert.pem');
	const keyFile = path.join(dir, 'key.pem');
	execFileSync(
		'openssl',
		[
			'req',
			'-x509',
			'-newkey',
			'ec',
			'-pkeyopt',
			'ec_paramgen_curve:prime256v1',
			'-nodes',
			'-keyout',
			keyFile,
			'-out',
			certFile,
			'-days',
			'1',
			'-subj',
			'/CN=127.0.0.1',
			'-addext',
			'subjectAltName=IP:127.0.0.1'
		],
		{ stdio: 'ignore' }
	);
	const cert = readFileSync(certFile);
	const ecdh = createECDH('prime256v1');
	ecdh.generateKeys();
	const authSecret = randomBytes(16);
	const received: Received[] = [];
	const waiters: Array<() => void> = [];
	let status = 201;
	const server = https.createServer({ cert, key: readFileSync(keyFile) }, (req, res) => {
		const chunks: Buffer[] = [];
		req.on('data', (c: Buffer) => chunks.push(c));
		req.on('end', () => {
			const plain = ece.decrypt(Buffer.concat(chunks), { version: 'aes128gcm', privateKey: ecdh, authSecret });
			received.push({ path: req.url ?? '', headers: req.headers, payload: JSON.parse(plain.toString('utf8')) });
			res.writeHead(status).end();
			waiters.splice(0).forEach((w) => w());
		});
	});
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	const base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
	return {
		received,
		cert,
		certFile,
		keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth: authSecret.toString('base64url') },
		endpoint: (id: string) => `${base}/push/${id}`,
		respondWith: (code: number) => (status = code),
		async next(count: number) {
			while (received.length < count) await new Promise<void>((resolve) => waiters.push(resolve));
			return received[count - 1];
		},
		close: () => new Promise<void>((resolve) => server.close(() => resolve()))
	};
}

describeEngines('web push', (engine) => {
	let server: TestServer;
	let endpoint: Awaited<ReturnType<typeof pushEndpoint>>;

	beforeAll(async () => {
		endpoint = await pushEndpoint();
		server = await startServer({ engine, env: { NODE_EXTRA_CA_CERTS: endpoint.certFile } });
	}, 60_000);
	afterAll(async () => {
		await server?.stop();
		await endpoint?.close();
	});

	async function pair() {
		const alice = await signedInClient(server.origin);
		const bob = await signedInClient(server.origin);
		const opened = await alice.client.post('/api/conversations', { username: bob.user.username });
		expect(opened.status).toBe(200);
		const conversationId = opened.body.conversation.id as string;
		const clientId = randomUUID();
		let clientSeq = 0;
		const send = (body: string) =>
			alice.client.post('/api/messages', { id: randomUUID(), conversationId, clientId, clientSeq: ++clientSeq, body }).then((r) => {
				expect(r.status).toBe(200);
			});
		return { alice, bob, conversationId, send };
	}

	it('pushes a new message to an offline recipient: VAPID-signed, encrypted, no text unless opted in', async () => {
		const { alice, bob, conversationId, send } = await pair();
		const key = await bob.client.get('/api/push/subscription');
		expect(key.status).toBe(200);
		const publicKey = key.body.publicKey as string;
		expect(Buffer.from(publicKey, 'base64url')).toHaveLength(65);

		const id = randomUUID();
		const subscribed = await bob.client.post('/api/push/subscription', {
			subscription: { endpoint: endpoint.endpoint(id), keys: endpoint.keys }
		});
		expect(subscribed.status).toBe(204);

		const before = endpoint.received.length;
		await send('top secret text');
		const push = await endpoint.next(before + 1);
		expect(push.path).toBe(`/push/${id}`);
		expect(push.headers['content-encoding']).toBe('aes128gcm');
		expect(push.headers.authorization).toMatch(new RegExp(`^vapid t=[\\w-]+\\.[\\w-]+\\.[\\w-]+, k=${publicKey}$`));
		expect(push.payload).toEqual({ type: 'message', conversationId });
		expect(JSON.stringify(push.payload)).not.toContain('top secret');

		// Opting in to previews: sender and text come along.
		await bob.client.post('/api/push/subscription', {
			subscription: { endpoint: endpoint.endpoint(id), keys: endpoint.keys },
			previews: true
		});
		await send('hello with preview');
		const preview = await endpoint.next(before + 2);
		expect(preview.payload).toEqual({ type: 'message', conversationId, from: alice.user.username, body: 'hello with preview' });

		// The sender's own subscriptions never hear about their own message.
		await alice.client.post('/api/push/subscription', { subscription: { endpoint: endpoint.endpoint(randomUUID()), keys: endpoint.keys } });
		await send('third');
		const third = await endpoint.next(before + 3);
		expect(third.path).toBe(`/push/${id}`);
	});

	it('sends nothing while the recipient has an open connection; forgets an endpoint the push service calls gone', async () => {
		const { alice, bob, send } = await pair();
		const id = randomUUID();
		// Alice's socket tells us when the server has noticed Bob leave (presence offline).
		const aliceWs = await WsClient.connect(server.origin, alice.client.cookie);
		// Previews on, so each push names its message.
		await bob.client.post('/api/push/subscription', {
			subscription: { endpoint: endpoint.endpoint(id), keys: endpoint.keys },
			previews: true
		});
		const ws = await WsClient.connect(server.origin, bob.client.cookie);
		const before = endpoint.received.length;
		await send('while connected');
		await ws.waitFor((f) => f.type === 'message');
		ws.socket.close();
		await new Promise<void>((resolve) => ws.socket.once('close', () => resolve()));
		await aliceWs.waitFor((f) => f.type === 'presence' && f.userId === bob.user.id && !f.online && f.lastSeenAt);
		aliceWs.close();

		// The next message after the connection closed is the first push (so the one before made none).
		endpoint.respondWith(410);
		await send('after closing');
		const gone = await endpoint.next(before + 1);
		expect(gone.payload.body).toBe('after closing');
		expect(endpoint.received.filter((r) => r.path === `/push/${id}`)).toHaveLength(1);
		endpoint.respondWith(201);

		// 410 deleted the subscription: a new message pushes nothing; a fresh subscriber proves it flowed.
		const witness = randomUUID();
		await bob.client.post('/api/push/subscription', { subscription: { endpoint: endpoint.endpoint(witness), keys: endpoint.keys } });
		await send('after gone');
		const last = await endpoint.next(before + 2);
		expect(last.path).toBe(`/push/${witness}`);
		expect(endpoint.received.filter((r) => r.path === `/push/${id}`)).toHaveLength(1);

		const removed = await bob.client.request('DELETE', '/api/push/subscription', { endpoint: endpoint.endpoint(witness) });
		expect(removed.status).toBe(204);
	});

	it('pushes nothing for a change to a message: edits, reactions and deletes are message_updated, not new messages', async () => {
		const { alice, bob, conversationId, send } = await pair();
		const id = randomUUID();
		await bob.client.post('/api/push/subscription', {
			subscription: { endpoint: endpoint.endpoint(id), keys: endpoint.keys },
			previews: true
		});
		const before = endpoint.received.length;
		await send('original');
		expect((await endpoint.next(before + 1)).payload.body).toBe('original');
		const history = await alice.client.get(`/api/conversations/${conversationId}/messages`);
		const messageId = history.body.messages.at(-1).id as string;
		expect((await alice.client.request('PATCH', `/api/messages/${messageId}`, { body: 'edited' })).status).toBe(200);
		expect((await alice.client.request('PUT', `/api/messages/${messageId}/reactions/${encodeURIComponent('👍')}`)).status).toBe(200);
		expect((await alice.client.request('DELETE', `/api/messages/${messageId}`)).status).toBe(200);
		// The next push is the next message: the three changes before it pushed nothing.
		await send('witness');
		expect((await endpoint.next(before + 2)).payload.body).toBe('witness');
		expect(endpoint.received.filter((r) => r.path === `/push/${id}`).map((r) => r.payload.body)).toEqual(['original', 'witness']);
	});

	it('pushes nothing for a conversation the recipient muted, and again once unmuted', async () => {
		const { bob, conversationId, send } = await pair();
		const id = randomUUID();
		await bob.client.post('/api/push/subscription', {
			subscription: { endpoint: endpoint.endpoint(id), keys: endpoint.keys },
			previews: true
		});
		const muted = await bob.client.request('PATCH', `/api/conversations/${conversationId}`, { muted: true });
		expect(muted.status).toBe(200);
		expect(muted.body.conversation).toMatchObject({ id: conversationId, muted: true });
		await send('while muted');
		expect((await bob.client.request('PATCH', `/api/conversations/${conversationId}`, { muted: false })).body.conversation.muted).toBe(
			false
		);
		await send('after unmuting');
		// Each push starts when its commit is published, in commit order: had the muted message made one,
		// it would have been on its way first.
		while (!endpoint.received.some((r) => r.path === `/push/${id}`)) await endpoint.next(endpoint.received.length + 1);
		expect(endpoint.received.filter((r) => r.path === `/push/${id}`).map((r) => r.payload.body)).toEqual(['after unmuting']);
	});

	it('refuses non-https endpoints and anonymous callers', async () => {
		const anonymous = await fetch(`${server.origin}/api/push/subscription`);
		expect(anonymous.status).toBe(401);
		const { bob } = await pair();
		for (const url of ['not a url', 'http://127.0.0.1:9/push/x']) {
			const bad = await bob.client.post('/api/push/subscription', { subscription: { endpoint: url, keys: endpoint.keys } });
			expect(bad.status).toBe(400);
		}
	});
});

describe('push endpoint (test helper)', () => {
	it('decrypts what web-push encrypts', async () => {
		const e = await pushEndpoint();
		try {
			const { default: webpush } = await import('web-push');
			const vapid = webpush.generateVAPIDKeys();
			await webpush.sendNotification({ endpoint: e.endpoint('x'), keys: e.keys }, '{"ok":true}', {
				vapidDetails: { subject: 'mailto:t@example.invalid', ...vapid },
				agent: new https.Agent({ ca: e.cert })
			});
			expect((await e.next(1)).payload).toEqual({ ok: true });
		} finally {
			await e.close();
		}
	});
});
