/**
 * Faults: the server killed mid-burst, the database going away under load, a client that
 * reconnects a hundred times, a network that loses half the frames, skewed client clocks.
 * After each, the checker compares what clients were promised with what the server stored.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { WebSocket } from 'ws';
import { checkConversation, fetchAll, type ClientRecord } from './checker';
import {
	ApiClient,
	createPostgresDatabase,
	describeEngines,
	freePort,
	signedInClient,
	startServer,
	WsClient,
	type TestServer
} from './harness';
import { startLossyWsProxy, startTcpProxy } from './proxies';

/**
 * A test client with the browser client's delivery rules: an outbox resent (same ids) on every
 * reconnect and on a timer until acked, resume from the last cursor, and gap repair over HTTP.
 */
class OutboxClient {
	private readonly outbox: Array<{ id: string; conversationId: string; clientId: string; clientSeq: number; body: string }> = [];
	private socket?: WebSocket;
	/** From the start of the log: a fresh client must see everything, like the browser's bootstrap. */
	private cursor = '0';
	private nextClientSeq = 1;
	private resendTimer?: ReturnType<typeof setInterval>;
	private stopped = false;
	readonly clientId = randomUUID();
	readonly record: ClientRecord = { clientId: this.clientId, acked: new Map(), attempted: new Set(), view: new Map() };
	reconnects = 0;
	resets = 0;

	constructor(
		private origin: string,
		readonly api: ApiClient,
		readonly conversationId: string,
		private readonly wsUrl = origin.replace(/^http/, 'ws') + '/ws',
		private readonly resendMs = 2000
	) {}

	start() {
		this.connect();
		// Unacked sends go again on every reconnect and, failing that, on a timer.
		this.resendTimer = setInterval(() => this.flush(), this.resendMs);
	}

	stop() {
		this.stopped = true;
		clearInterval(this.resendTimer);
		this.socket?.terminate();
	}

	enqueue(body: string) {
		const send = { id: randomUUID(), conversationId: this.conversationId, clientId: this.clientId, clientSeq: this.nextClientSeq++, body };
		this.outbox.push(send);
		this.record.attempted.add(send.id);
		this.flush();
	}

	get pending() {
		return this.outbox.length;
	}

	private connect() {
		if (this.stopped) return;
		const url = new URL(this.wsUrl);
		url.searchParams.set('cursor', this.cursor);
		this.log.push(`connect ${this.cursor}`);
		const socket = new WebSocket(url, { headers: { cookie: this.api.cookie!, origin: this.origin } });
		this.socket = socket;
		socket.on('message', (data) => this.onFrame(JSON.parse(data.toString())));
		socket.on('open', () => this.flush());
		const retry = () => {
			if (this.socket !== socket || this.stopped) return;
			this.socket = undefined;
			this.reconnects++;
			setTimeout(() => this.connect(), 100);
		};
		socket.on('close', retry);
		socket.on('error', () => socket.terminate());
		socket.on('unexpected-response', () => socket.terminate());
	}

	private flush() {
		if (this.socket?.readyState !== WebSocket.OPEN) return;
		for (const send of this.outbox) this.socket.send(JSON.stringify({ type: 'send', ...send }));
	}

	readonly log: string[] = [];

	private onFrame(frame: any) {
		this.log.push(`${frame.type} ${frame.cursor ?? ''} ${frame.message?.seq ?? ''}`);
		if (frame.type === 'ack') {
			const index = this.outbox.findIndex((s) => s.id === frame.id);
			if (index !== -1) this.outbox.splice(index, 1);
			this.record.acked.set(frame.id, frame.seq);
		} else if (frame.type === 'message' && frame.message.conversationId === this.conversationId) {
			this.record.view!.set(frame.message.seq, frame.message.id);
		}
		if (frame.cursor && frame.type !== 'ready' && frame.type !== 'reset') this.cursor = frame.cursor;
		if (frame.type === 'ready') this.cursor = frame.cursor;
		if (frame.type === 'reset') {
			// As the browser client does: refetch over HTTP, then go on from the fresh cursor.
			this.resets++;
			void this.repair();
		}
	}

	/** Fills any seq gap in the local view from the server, as the browser client does. */
	async repair() {
		for (const m of await fetchAll(this.api, this.conversationId)) this.record.view!.set(m.seq, m.id);
	}
}

async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 30_000, what = 'condition') {
	const deadline = Date.now() + timeoutMs;
	while (!(await condition())) {
		if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
		await new Promise((r) => setTimeout(r, 50));
	}
}

describeEngines('server killed with SIGKILL mid-burst', (engine) => {
	let dir: string | undefined;
	let server: TestServer | undefined;
	afterEach(async () => {
		await server?.kill();
		if (dir) rmSync(dir, { recursive: true, force: true });
	});

	test('clients reconnect and resume; every acked message exactly once, un-acked ones resent and stored once', async () => {
		dir = mkdtempSync(path.join(tmpdir(), 'duet-kill-'));
		const databaseUrl = engine === 'postgres' ? await createPostgresDatabase() : '';
		const port = await freePort();
		const env = { PGLITE_DIR: path.join(dir, 'pglite'), GAP_TIMEOUT_MS: '10000' };
		server = await startServer({ engine, port, databaseUrl, env });
		const alice = await signedInClient(server.origin);
		const bob = await signedInClient(server.origin);
		const conversationId = (await alice.client.post('/api/conversations', { username: bob.user.username })).body.conversation.id;
		const a = new OutboxClient(server.origin, alice.client, conversationId);
		const b = new OutboxClient(server.origin, bob.client, conversationId);
		a.start();
		b.start();
		const total = 80;
		const half = total / 2;
		for (let i = 0; i < half; i++) {
			a.enqueue(`a${i}`);
			b.enqueue(`b${i}`);
		}
		await until(() => a.record.acked.size + b.record.acked.size >= 30, 30_000, 'some acks');
		await server.kill();
		// Typed while the server is down: these can only be delivered from the outbox after restart.
		for (let i = half; i < total; i++) {
			a.enqueue(`a${i}`);
			b.enqueue(`b${i}`);
		}
		expect(a.pending + b.pending).toBeGreaterThanOrEqual(total);
		server = await startServer({ engine, port, databaseUrl, env });
		await until(() => a.pending === 0 && b.pending === 0, 60_000, 'outboxes to drain');
		await until(() => a.record.view!.size === 2 * total && b.record.view!.size === 2 * total, 30_000, 'both views complete').catch(
			(error) => {
				const missing = (view: Map<number, string>) => Array.from({ length: 2 * total }, (_, i) => i + 1).filter((seq) => !view.has(seq));
				throw new Error(
					`${error.message}: views ${a.record.view!.size}/${b.record.view!.size}, resets ${a.resets}/${b.resets}, ` +
						`missing a=${missing(a.record.view!)} b=${missing(b.record.view!)}, log:\n${b.log.slice(-30).join('\n')}`
				);
			}
		);
		a.stop();
		b.stop();
		const { stored, byClient } = await checkConversation(alice.client, conversationId, [a.record, b.record]);
		expect(stored).toHaveLength(2 * total);
		expect(byClient.get(a.clientId)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
		expect(byClient.get(b.clientId)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
		expect(a.reconnects).toBeGreaterThan(0);
	}, 180_000);
});

describe.skipIf(!process.env.TEST_DATABASE_URL)('PostgreSQL going away under load [postgres]', () => {
	test('requests fail fast with 503 unavailable, the process stays up, and recovers by itself', async () => {
		const base = new URL(await createPostgresDatabase());
		const proxy = await startTcpProxy(base.hostname, Number(base.port || 5432));
		const viaProxy = new URL(base);
		viaProxy.port = String(proxy.port);
		const server = await startServer({ engine: 'postgres', databaseUrl: viaProxy.toString(), env: { DATABASE_POOL_SIZE: '4' } });
		try {
			const alice = await signedInClient(server.origin);
			const bob = await signedInClient(server.origin);
			const conversationId = (await alice.client.post('/api/conversations', { username: bob.user.username })).body.conversation.id;
			const clientId = randomUUID();
			const acked = new Map<string, number>();
			const attempted = new Set<string>();
			let clientSeq = 1;
			const statuses: number[] = [];
			const sendOne = async () => {
				const send = { id: randomUUID(), conversationId, clientId, clientSeq: clientSeq++, body: 'x' };
				attempted.add(send.id);
				const started = Date.now();
				// Retries with the same id until acked, as the outbox does.
				for (;;) {
					const res = await alice.client.post('/api/messages', send).catch(() => ({ status: 0, body: null as any }));
					statuses.push(res.status);
					expect(Date.now() - started).toBeLessThan(60_000);
					if (res.status === 200) {
						acked.set(send.id, res.body.seq);
						return;
					}
					expect([503, 0]).toContain(res.status);
					if (res.status === 503) expect(res.body.error.code).toBe('unavailable');
					await new Promise((r) => setTimeout(r, 200));
				}
			};
			for (let i = 0; i < 10; i++) await sendOne();
			proxy.cut();
			const during = Date.now();
			const outage = await alice.client.post('/api/messages', {
				id: randomUUID(),
				conversationId,
				clientId: randomUUID(),
				clientSeq: 1,
				body: 'y'
			});
			expect(outage.status).toBe(503);
			expect(outage.body.error.code).toBe('unavailable');
			expect(Date.now() - during).toBeLessThan(15_000);
			expect((await alice.client.get('/readyz')).status).toBe(503);
			expect((await alice.client.get('/healthz')).status).toBe(200);
			const inFlight = Promise.all([sendOne(), sendOne(), sendOne()]);
			await new Promise((r) => setTimeout(r, 1000));
			proxy.restore();
			await inFlight;
			await until(async () => (await alice.client.get('/readyz')).status === 200, 30_000, 'ready again');
			for (let i = 0; i < 5; i++) await sendOne();
			expect(statuses).toContain(503);
			await checkConversation(alice.client, conversationId, [{ clientId, acked, attempted }]);
			expect(acked.size).toBe(18);
		} finally {
			await server.stop();
			await proxy.close();
		}
	}, 120_000);
});

describeEngines('reconnect storms, lossy networks and clock skew', (engine) => {
	let server: TestServer;
	beforeAll(async () => {
		// A long gap timeout: at 50% loss a resend can need several tries, and the order check below
		// is about resends filling gaps, not about the buffer giving up on them.
		server = await startServer({ engine, env: { MAX_CONNECTIONS_PER_USER: '5', GAP_TIMEOUT_MS: '30000' } });
	});
	afterAll(async () => {
		await server?.stop();
	});

	test('a client that reconnects 100 times in a row leaks nothing and misses nothing', async () => {
		const alice = await signedInClient(server.origin);
		const bob = await signedInClient(server.origin);
		const conversationId = (await alice.client.post('/api/conversations', { username: bob.user.username })).body.conversation.id;
		let cursor: string | undefined;
		const seen: number[] = [];
		const clientId = randomUUID();
		for (let i = 1; i <= 100; i++) {
			const ws = await WsClient.connect(server.origin, bob.client.cookie, { cursor });
			if (i % 10 === 0)
				await alice.client.post('/api/messages', { id: randomUUID(), conversationId, clientId, clientSeq: i / 10, body: `m${i}` });
			if (i % 10 === 0) await ws.waitFor((f) => f.type === 'message' && f.message.clientSeq === i / 10);
			for (const f of ws.frames) {
				if (f.type === 'message') seen.push(f.message.seq);
				if (f.cursor && f.type !== 'reset') cursor = f.cursor;
			}
			ws.close();
			await ws.waitClosed();
		}
		expect(seen).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
		// Every one of those connections was released: the per-user cap still admits a full set.
		await until(
			async () => {
				const sockets = await Promise.allSettled(Array.from({ length: 5 }, () => WsClient.connect(server.origin, bob.client.cookie)));
				sockets.forEach((s) => s.status === 'fulfilled' && s.value.close());
				return sockets.every((s) => s.status === 'fulfilled');
			},
			10_000,
			'connection slots to be free'
		);
		expect((await bob.client.get('/healthz')).status).toBe(200);
	});

	test('a network that drops half the frames: everything arrives once, in order, after resends and gap repair', async () => {
		const alice = await signedInClient(server.origin);
		const bob = await signedInClient(server.origin);
		const conversationId = (await alice.client.post('/api/conversations', { username: bob.user.username })).body.conversation.id;
		const proxy = await startLossyWsProxy(server.origin, 0.5, 1234);
		const wsUrl = `ws://127.0.0.1:${proxy.port}/ws`;
		const a = new OutboxClient(server.origin, alice.client, conversationId, wsUrl, 1000);
		const b = new OutboxClient(server.origin, bob.client, conversationId, wsUrl, 1000);
		a.start();
		b.start();
		const total = 25;
		for (let i = 0; i < total; i++) {
			a.enqueue(`a${i}`);
			b.enqueue(`b${i}`);
		}
		await until(() => a.pending === 0 && b.pending === 0, 150_000, 'every send acked through the lossy link');
		await a.repair();
		await b.repair();
		a.stop();
		b.stop();
		await proxy.close();
		expect(proxy.dropped.up + proxy.dropped.down).toBeGreaterThan(10);
		const { stored, byClient } = await checkConversation(alice.client, conversationId, [a.record, b.record]);
		expect(stored).toHaveLength(2 * total);
		// Resends arrived well inside the gap timeout, so each client's order held.
		expect(byClient.get(a.clientId)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
		expect(byClient.get(b.clientId)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
	}, 200_000);

	test('client clocks play no part: skewed timestamps in frames are ignored and order is by seq', async () => {
		const alice = await signedInClient(server.origin);
		const bob = await signedInClient(server.origin);
		const conversationId = (await alice.client.post('/api/conversations', { username: bob.user.username })).body.conversation.id;
		const sender = await WsClient.connect(server.origin, alice.client.cookie);
		const recipient = await WsClient.connect(server.origin, bob.client.cookie);
		// What a client with a broken clock might claim, out of order on purpose: were the server to
		// order or stamp by them, the first message would land after the second, and so on.
		const claimed: unknown[] = [
			new Date(Date.now() + 365 * 24 * 3600_000).toISOString(),
			new Date(0).toISOString(),
			'not a date',
			'9999-12-31T23:59:59.999Z',
			-62_135_596_800_000,
			''
		];
		const clientId = randomUUID();
		const sends = claimed.map((createdAt, i) => ({
			id: randomUUID(),
			conversationId,
			clientId,
			clientSeq: i + 1,
			body: `sent ${i + 1}`,
			createdAt
		}));
		const before = Date.now();
		for (const send of sends) sender.send({ type: 'send', ...send });
		const replies = await sender.waitForCount((f) => sends.some((s) => s.id === f.id), sends.length);
		const after = Date.now();
		const serverNow = (createdAt: string) => {
			const at = Date.parse(createdAt);
			expect(at, `${createdAt} is the server's now`).toBeGreaterThanOrEqual(before - 1000);
			expect(at, `${createdAt} is the server's now`).toBeLessThanOrEqual(after + 1000);
		};

		// Acks may arrive in any order; each names its send, and the seqs must follow the send order.
		const acks = sends.map((s) => replies.find((f) => f.id === s.id));
		expect(acks.map((f) => [f.type, f.seq])).toEqual(sends.map((_, i) => ['ack', i + 1]));
		acks.forEach((ack) => serverNow(ack.createdAt));

		const delivered = (await recipient.waitForCount((f) => f.type === 'message', sends.length)).map((f) => f.message);
		expect(delivered.map((m) => [m.seq, m.body])).toEqual(sends.map((s, i) => [i + 1, s.body]));
		expect(delivered.map((m) => m.createdAt)).toEqual(acks.map((ack) => ack.createdAt));

		const record: ClientRecord = {
			clientId,
			acked: new Map(acks.map((ack) => [ack.id, ack.seq])),
			attempted: new Set(sends.map((s) => s.id))
		};
		const { stored } = await checkConversation(bob.client, conversationId, [record]);
		expect(stored.map((m) => [m.seq, m.body, m.createdAt])).toEqual(delivered.map((m) => [m.seq, m.body, m.createdAt]));
		sender.close();
		recipient.close();
	});
});
