/**
 * Clients that never read: whatever they make the server write (pongs, error frames, acks, events,
 * keepalives), the server holds at most its one outgoing limit for them, then closes them, keeps its
 * memory, and goes on serving everyone else. Error frames never echo more than a short id.
 */
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { INSPECT, retainedBytes } from './inspector';
import { describeEngines, signedInClient, startServer, WsClient, type TestServer } from './harness';

const LIMIT = 1024 * 1024;
/** The limit is checked before each write, so what is queued stays under it by one frame at most. */
const LARGEST_FRAME = 64 * 1024;
/**
 * What the server still holds after a full collection once a slow client is dealt with: a few MiB
 * of noise (caches, pools) measured here, against the 1 MiB per connection it may queue. RSS is not
 * the measure: it follows how lazily V8 and malloc return memory, which the machine's load moves.
 */
const RETAINED_GROWTH_BOUND = 16 * 1024 * 1024;
const BODY = 'x'.repeat(4000);

/** Resolves once the server's output matches (checked as each chunk of output arrives). */
function whenLogged(server: TestServer, pattern: RegExp): Promise<RegExpMatchArray> {
	return new Promise((resolve) => {
		const streams = [server.process.stdout!, server.process.stderr!];
		const check = () => {
			const match = server.output().match(pattern);
			if (!match) return;
			for (const s of streams) s.off('data', check);
			resolve(match);
		};
		for (const s of streams) s.on('data', check);
		check();
	});
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
	let timer: ReturnType<typeof setTimeout>;
	return Promise.race([
		promise.finally(() => clearTimeout(timer)),
		new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms)))
	]);
}

/**
 * A client that sends its request by hand, reads the response head, then stops reading: the
 * kernel's buffers fill first, then the server's. `readRest` starts reading again and resolves with
 * everything the server still delivers, once it has ended the connection.
 */
async function nonReader(server: TestServer, request: string) {
	const socket = net.connect(server.port, '127.0.0.1');
	socket.on('error', () => {});
	let isClosed = false;
	const closed = new Promise<void>((resolve) =>
		socket.once('close', () => {
			isClosed = true;
			resolve();
		})
	);
	await new Promise((resolve) => socket.once('connect', resolve));
	socket.write(request);
	let rest = Buffer.alloc(0);
	const head = await new Promise<string>((resolve, reject) => {
		const onData = (chunk: Buffer) => {
			rest = Buffer.concat([rest, chunk]);
			const end = rest.indexOf('\r\n\r\n');
			if (end === -1) return;
			socket.pause();
			socket.off('data', onData);
			resolve(rest.subarray(0, end).toString());
			rest = rest.subarray(end + 4);
		};
		socket.on('data', onData);
		closed.then(() => reject(new Error('closed before the response head')));
	});
	return {
		socket,
		head,
		closed,
		isClosed: () => isClosed,
		async readRest(): Promise<Buffer> {
			socket.on('data', (chunk: Buffer) => (rest = Buffer.concat([rest, chunk])));
			socket.resume();
			await closed;
			return rest;
		}
	};
}

function upgradeRequest(server: TestServer, cookie: string) {
	return (
		`GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
		`Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: ${server.origin}\r\nCookie: ${cookie}\r\n\r\n`
	);
}

/** A masked client frame. The all-zero masking key is valid and leaves the payload as it is. */
function clientFrame(opcode: number, payload: Buffer): Buffer {
	const length = payload.length;
	const header =
		length < 126
			? Buffer.from([0x80 | opcode, 0x80 | length])
			: length < 65536
				? Buffer.from([0x80 | opcode, 0x80 | 126, length >> 8, length & 0xff])
				: Buffer.from([0x80 | opcode, 0x80 | 127, 0, 0, 0, 0, length >>> 24, (length >>> 16) & 0xff, (length >>> 8) & 0xff, length & 0xff]);
	return Buffer.concat([header, Buffer.alloc(4), payload]);
}
const textFrame = (value: unknown) => clientFrame(1, Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)));

/** The server's (unmasked) frames in `data`, as far as they are complete. */
function serverFrames(data: Buffer): { opcode: number; payload: Buffer }[] {
	const frames = [];
	let offset = 0;
	while (offset + 2 <= data.length) {
		let length = data[offset + 1] & 0x7f;
		let header = 2;
		if (length === 126) {
			if (offset + 4 > data.length) break;
			length = data.readUInt16BE(offset + 2);
			header = 4;
		} else if (length === 127) {
			if (offset + 10 > data.length) break;
			length = Number(data.readBigUInt64BE(offset + 2));
			header = 10;
		}
		if (offset + header + length > data.length) break;
		frames.push({ opcode: data[offset] & 0x0f, payload: data.subarray(offset + header, offset + header + length) });
		offset += header + length;
	}
	return frames;
}

/** Sends `count` messages of BODY, `window` at a time, each window acked before the next. */
/**
 * Sends messages in rounds of 50 until `done` settles (or 5,000 are sent). Each is an event of
 * about 4 KiB for the reader; 20 MiB of them is far past any buffer.
 */
async function sendUntil(done: Promise<unknown>, sender: WsClient, conversationId: string) {
	let settled = false;
	done.then(
		() => (settled = true),
		() => (settled = true)
	);
	for (let sent = 0; !settled && sent < 5000; sent += 50) await sendMany(sender, conversationId, randomUUID(), 1, 50);
}

async function sendMany(client: WsClient, conversationId: string, clientId: string, from: number, count: number, window = 50) {
	for (let i = 0; i < count; i += window) {
		const ids: string[] = [];
		for (let j = 0; j < window && i + j < count; j++) {
			const id = randomUUID();
			ids.push(id);
			client.send({ type: 'send', id, conversationId, clientId, clientSeq: from + i + j, body: BODY });
		}
		await client.waitFor((f) => f.type === 'ack' && f.id === ids[ids.length - 1], 30_000);
	}
}

/** Another client, served while the slow one is stuck: a send is acked, a ping answered. */
async function expectServed(client: WsClient, conversationId: string) {
	const id = randomUUID();
	client.send({ type: 'send', id, conversationId, clientId: randomUUID(), clientSeq: 1, body: 'still served' });
	await client.waitFor((f) => f.type === 'ack' && f.id === id);
	const before = client.frames.filter((f) => f.type === 'pong').length;
	client.send({ type: 'ping' });
	await client.waitForCount((f) => f.type === 'pong', before + 1);
}

/** Starts a server for a block of tests, and fails the block if the server logged an unexpected error. */
function serverFor(engine: Parameters<typeof startServer>[0]['engine'], env: Record<string, string>) {
	let server!: TestServer;
	beforeAll(async () => {
		server = await startServer({ engine, env, nodeArgs: INSPECT });
	});
	afterAll(async () => {
		const output = server?.output() ?? '';
		await server?.stop();
		// The last-resort guard logs real bugs loudly; a normal run, however hostile, has none.
		expect(output).not.toContain('Unexpected error');
	});
	return {
		server: () => server,
		async pair() {
			const reader = await signedInClient(server.origin);
			const peer = await signedInClient(server.origin);
			const opened = await peer.client.post('/api/conversations', { username: reader.user.username });
			return { reader, peer, conversationId: opened.body.conversation.id as string };
		}
	};
}

describeEngines('a WebSocket client that floods and never reads', (engine) => {
	// A heartbeat short enough that a socket paused for good is found silent within the test.
	const setup = serverFor(engine, { WS_HEARTBEAT_MS: '3000' });
	let server: TestServer;
	beforeAll(() => {
		server = setup.server();
	});
	const pair = setup.pair;

	test(
		'a WebSocket client flooding pings, bad frames with the largest ids and sends, never reading, is stopped and closed; memory stays bounded; others are served',
		{ timeout: 120_000 },
		async () => {
			const { reader, peer, conversationId } = await pair();
			const watcher = await WsClient.connect(server.origin, peer.client.cookie);
			const baseline = await retainedBytes(server);
			const raw = await nonReader(server, upgradeRequest(server, reader.client.cookie!));
			expect(raw.head).toMatch(/^HTTP\/1.1 101/);

			// The largest frame the server takes, nearly all of it id: an echo would answer it in kind.
			const hugeId = textFrame({ type: 'nope', id: 'i'.repeat(LARGEST_FRAME - 30) });
			expect(hugeId.length).toBeLessThanOrEqual(LARGEST_FRAME + 14);
			const pings = Buffer.concat(Array.from({ length: 256 }, () => textFrame({ type: 'ping' })));
			const clientId = randomUUID();
			let clientSeq = 0;
			const chunk = () =>
				Buffer.concat([
					pings,
					hugeId,
					...Array.from({ length: 4 }, () =>
						textFrame({ type: 'send', id: randomUUID(), conversationId, clientId, clientSeq: ++clientSeq, body: `flood ${clientSeq}` })
					)
				]);

			const others = (async () => {
				for (let i = 0; i < 5; i++) await expectServed(watcher, conversationId);
			})();
			// Writes as fast as the server takes them; a server that stops reading holds the flood at
			// the client until it closes the socket. A server that never stops would take it all.
			const FLOOD_CAP = 128 * 1024 * 1024;
			let flooded = 0;
			while (!raw.isClosed() && flooded < FLOOD_CAP) {
				const data = chunk();
				flooded += data.length;
				if (!raw.socket.write(data)) await Promise.race([new Promise((resolve) => raw.socket.once('drain', resolve)), raw.closed]);
			}
			await others;
			await within(raw.closed, 30_000, `the server to close the flooding socket (flooded ${flooded} bytes)`).catch((error) => {
				throw new Error(`${error.message}\n${server.output().slice(-3000)}`);
			});
			expect(flooded).toBeLessThan(FLOOD_CAP);
			expect((await retainedBytes(server)) - baseline).toBeLessThan(RETAINED_GROWTH_BOUND);
			// When the limit, not the heartbeat, closed it, what was queued stayed within one frame of it.
			for (const [, bytes] of server.output().matchAll(new RegExp(`WebSocket of user ${reader.user.id}: (\\d+) bytes`, 'g'))) {
				expect(Number(bytes)).toBeLessThanOrEqual(LIMIT + LARGEST_FRAME);
			}
			await watcher.waitFor((f) => f.type === 'presence' && f.userId === reader.user.id && f.online === false);
			await expectServed(watcher, conversationId);
			watcher.close();
		}
	);
});

describeEngines('readers that never read, and readers that do', (engine) => {
	// The heartbeat would terminate a paused socket too; here the limit must be what closes it.
	const setup = serverFor(engine, { SSE_KEEPALIVE_MS: '1000', WS_HEARTBEAT_MS: '600000' });
	let server: TestServer;
	beforeAll(() => {
		server = setup.server();
	});
	const pair = setup.pair;

	test(
		'a WebSocket client that never reads while events are pushed to it is closed 1013 at the limit, and can read its way to the close frame',
		{ timeout: 120_000 },
		async () => {
			const { reader, peer, conversationId } = await pair();
			const sender = await WsClient.connect(server.origin, peer.client.cookie);
			const baseline = await retainedBytes(server);
			const raw = await nonReader(server, upgradeRequest(server, reader.client.cookie!));
			expect(raw.head).toMatch(/^HTTP\/1.1 101/);

			const closing = whenLogged(server, new RegExp(`Closing the WebSocket of user ${reader.user.id}: (\\d+) bytes`));
			await sendUntil(closing, sender, conversationId);
			const [, bytes] = await within(closing, 30_000, 'the too-slow close');
			expect(Number(bytes)).toBeGreaterThan(LIMIT);
			expect(Number(bytes)).toBeLessThanOrEqual(LIMIT + LARGEST_FRAME);
			expect((await retainedBytes(server)) - baseline).toBeLessThan(RETAINED_GROWTH_BOUND);

			// Reading now, within the grace, finds everything that was queued and then the close frame.
			const data = await within(raw.readRest(), 30_000, 'the server to end the connection');
			const frames = serverFrames(data);
			const close = frames.find((f) => f.opcode === 8);
			expect(close, `no close frame in ${frames.length} frames`).toBeDefined();
			expect(close!.payload.readUInt16BE(0)).toBe(1013);
			expect(frames.filter((f) => f.opcode === 1).length).toBeGreaterThan(LIMIT / (BODY.length + 1000));
			await sender.waitFor((f) => f.type === 'presence' && f.userId === reader.user.id && f.online === false);
			await expectServed(sender, conversationId);
			sender.close();
		}
	);

	for (const [path, extraHeaders] of [
		['the fast path', ''],
		// GET is not state-changing, so a foreign Origin is served, by the SvelteKit route.
		['the SvelteKit route', 'Origin: http://elsewhere.example\r\n']
	] as const) {
		test(
			`an SSE client that never reads while events are produced for it is cut at the limit (${path}); others are served`,
			{ timeout: 120_000 },
			async () => {
				const { reader, peer, conversationId } = await pair();
				const sender = await WsClient.connect(server.origin, peer.client.cookie);
				const baseline = await retainedBytes(server);
				const raw = await nonReader(
					server,
					`GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nAccept: text/event-stream\r\n${extraHeaders}Cookie: ${reader.client.cookie}\r\n\r\n`
				);
				expect(raw.head).toMatch(/^HTTP\/1.1 200/);
				expect(raw.head).toMatch(/content-type: text\/event-stream/i);

				const cut = whenLogged(server, new RegExp(`Cutting the event stream of user ${reader.user.id}: (\\d+) bytes`));
				await sendUntil(cut, sender, conversationId);
				const [, bytes] = await within(cut, 30_000, 'the too-slow cut');
				expect(Number(bytes)).toBeGreaterThan(LIMIT);
				expect(Number(bytes)).toBeLessThanOrEqual(LIMIT + LARGEST_FRAME);
				expect((await retainedBytes(server)) - baseline).toBeLessThan(RETAINED_GROWTH_BOUND);
				await sender.waitFor((f) => f.type === 'presence' && f.userId === reader.user.id && f.online === false);
				// The connection itself is gone, not just the stream: reading drains what the kernel holds, then the end.
				await within(raw.readRest(), 30_000, 'the server to drop the connection');
				await expectServed(sender, conversationId);
				sender.close();
			}
		);
	}

	test(
		'a client that reads is never closed: a replay of several MiB waits for it, and 1,000 pipelined sends are all acked',
		{ timeout: 120_000 },
		async () => {
			const { reader, peer, conversationId } = await pair();
			const sender = await WsClient.connect(server.origin, peer.client.cookie);
			// 1,000 events of about 4 KiB: four times the limit, replayed in one go.
			await sendMany(sender, conversationId, randomUUID(), 1, 1000, 100);
			const replaying = await WsClient.connect(server.origin, reader.client.cookie, { cursor: '0' });
			const messages = await replaying.waitForCount((f) => f.type === 'message', 1000, 60_000);
			expect(new Set(messages.map((f) => f.message.id)).size).toBe(1000);

			// Far more sends at once than a socket may have in flight: reading pauses and resumes, nothing
			// is lost. Eight client ids, so no key holds more than the sequence buffer's 256 per key.
			const clientIds = Array.from({ length: 8 }, () => randomUUID());
			const ids = Array.from({ length: 1000 }, () => randomUUID());
			ids.forEach((id, i) =>
				replaying.send({
					type: 'send',
					id,
					conversationId,
					clientId: clientIds[i % 8],
					clientSeq: Math.floor(i / 8) + 1,
					body: `pipelined ${i}`
				})
			);
			// A set: the predicate runs over every frame on every arrival.
			const wanted = new Set(ids);
			const acks = await replaying
				.waitForCount((f) => f.type === 'ack' && wanted.has(f.id), ids.length, 60_000)
				.catch((error) => {
					throw new Error(`${error.message}; errors: ${JSON.stringify(replaying.frames.filter((f) => f.type === 'error').slice(0, 3))}`);
				});
			expect(acks.map((a) => a.id).sort()).toEqual([...ids].sort());
			expect(replaying.closed).toBeUndefined();
			expect(server.output()).not.toContain(`WebSocket of user ${reader.user.id}`);
			replaying.close();
			sender.close();
		}
	);

	test('error frames echo a short plain id and never a long or unusual one', async () => {
		const { reader } = await pair();
		const client = await WsClient.connect(server.origin, reader.client.cookie);
		const uuid = randomUUID();
		const cases: Array<[unknown, string | undefined]> = [
			[uuid, uuid],
			['x'.repeat(64), 'x'.repeat(64)],
			['x'.repeat(65), undefined],
			['x'.repeat(LARGEST_FRAME - 400), undefined],
			['<img src=x onerror=alert(1)>', undefined],
			['line\nbreak', undefined],
			[42, undefined]
		];
		for (const [id, echoed] of cases) {
			const before = client.frames.filter((f) => f.type === 'error').length;
			// A bad frame (unknown type), and a send with a bad body: both are answered with an error.
			client.send({ type: 'nope', id });
			client.send({ type: 'send', id, conversationId: randomUUID(), clientId: randomUUID(), clientSeq: 1, body: 7 });
			const errors = await client.waitForCount((f) => f.type === 'error', before + 2);
			for (const error of errors.slice(-2)) {
				expect(error.code).toBe('bad_request');
				expect(error.id).toBe(echoed);
				expect(JSON.stringify(error).length).toBeLessThan(1000);
			}
		}
		client.close();
		await client.waitClosed();
	});
});
