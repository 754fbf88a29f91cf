import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { AppError } from '$lib/errors';
import { CLOSE, type CloseCode } from '$lib/protocol';
import type { PushEvent, User } from '$lib/types';
import { InProcessBus } from '../bus';
import { loadConfig } from '../config';
import { openDatabase, type Database } from '../db';
import { users } from '../db/schema';
import { openEventStream } from '../sse';
import { FakeWs } from '../test-ws';
import { WebSocketTransport } from '../ws';
import { ChatService } from './service';
import { Streams, type OpenStream, type StreamTransport } from './streams';

/** A transport that records what the lifecycle does with it; `hold` makes replay wait for `release`. */
class FakeTransport implements StreamTransport {
	readonly name = 'fake';
	readonly events: PushEvent[] = [];
	readonly closes: { code: CloseCode; reason: string }[] = [];
	openedCalls = 0;
	goneAway = 0;
	ended = false;
	/** Once this many events are sent, the transport reports a backlog until `release()`. */
	holdAfter = Infinity;
	private held?: () => void;
	private holding?: Promise<void>;
	private readonly closeListeners: Array<() => void> = [];
	private readonly watchers = new Set<() => void>();

	opened() {
		this.openedCalls++;
	}
	send(event: PushEvent) {
		this.events.push(event);
		for (const watch of [...this.watchers]) watch();
	}
	backlogged() {
		return this.events.length >= this.holdAfter;
	}
	drained() {
		this.holding ??= new Promise<void>((resolve) => (this.held = resolve));
		return this.holding;
	}
	release() {
		this.holdAfter = Infinity;
		this.held?.();
	}
	close(code: CloseCode, reason: string) {
		this.closes.push({ code, reason });
		this.end();
	}
	goAway() {
		this.goneAway++;
		this.end();
	}
	onClose(listener: () => void) {
		if (this.ended) listener();
		else this.closeListeners.push(listener);
	}
	/** The connection ends from the client's side. */
	end() {
		if (this.ended) return;
		this.ended = true;
		for (const listener of this.closeListeners.splice(0)) listener();
	}
	/** Resolves once the events sent so far satisfy `done`. */
	until(done: (events: PushEvent[]) => boolean): Promise<PushEvent[]> {
		return new Promise((resolve) => {
			const watch = () => {
				if (!done(this.events)) return;
				this.watchers.delete(watch);
				resolve(this.events);
			};
			this.watchers.add(watch);
			watch();
		});
	}
	ofType<T extends PushEvent['type']>(type: T) {
		return this.events.filter((e): e is Extract<PushEvent, { type: T }> => e.type === type);
	}
}

const LIMIT = 3;

let database: Database;
let bus: InProcessBus;
let chat: ChatService;
let streams: Streams;
let alice: User;
let bob: User;
let conversationId: string;
let clientSeq = 0;
const opened: OpenStream[] = [];

async function createUser(name: string): Promise<User> {
	const user = { id: crypto.randomUUID(), username: `${name}_${crypto.randomUUID().slice(0, 6)}` };
	await database.db.insert(users).values({ ...user, passwordHash: 'x' });
	return user;
}

async function open(user: User, cursor?: string, transport = new FakeTransport()) {
	const stream = await streams.open(user, crypto.randomUUID(), cursor, transport);
	opened.push(stream);
	return { stream, transport };
}

function send(body: string) {
	return chat.send(alice.id, {
		id: crypto.randomUUID(),
		conversationId,
		clientId: conversationId,
		clientSeq: ++clientSeq,
		body,
		replyTo: null
	});
}

const cursors = (events: PushEvent[]) =>
	events.filter((e) => e.type !== 'ready' && 'cursor' in e).map((e) => Number((e as { cursor: string }).cursor));

beforeAll(async () => {
	database = await openDatabase('memory://', '');
	bus = new InProcessBus();
	chat = new ChatService(database.db, database.batch, bus, { ...loadConfig({}), maxConnectionsPerUser: LIMIT, sendBurst: 10_000 });
	streams = new Streams({ db: database.db, bus, chat });
});

// New users for every test: a release's "offline" announcement is not awaited, and must not
// reach the next test's streams.
beforeEach(async () => {
	alice = await createUser('alice');
	bob = await createUser('bob');
	conversationId = (await chat.openConversation(alice.id, bob.username)).id;
	clientSeq = 0;
});

afterEach(() => {
	for (const stream of opened.splice(0)) stream.close();
});

afterAll(async () => {
	// Also waits for the releases' presence updates, which must not outlive the database.
	await streams.shutdown();
	await chat.flush();
	await database.close();
});

describe('Streams', () => {
	test('refuses a connection past the limit without counting it, and takes one again once another closes', async () => {
		const open3 = await Promise.all(Array.from({ length: LIMIT }, () => open(alice)));
		const refused = new FakeTransport();
		const refusal = await streams.open(alice, crypto.randomUUID(), undefined, refused).catch((error) => error);
		expect(refusal).toBeInstanceOf(AppError);
		expect((refusal as AppError).code).toBe('rate_limited');
		expect(refused.events).toEqual([]);
		expect(refused.openedCalls).toBe(0);
		expect(chat.connectionCount(alice.id)).toBe(LIMIT);
		expect(streams.size).toBe(LIMIT);

		open3[0].transport.end();
		expect(chat.connectionCount(alice.id)).toBe(LIMIT - 1);
		const again = await open(alice);
		await again.stream.started;
		expect(again.transport.events[0]).toMatchObject({ type: 'ready' });
	});

	test('tells a peer once that a user came online across two streams, and once that they left after the last', async () => {
		const watcher = await open(bob);
		await watcher.stream.started;
		// Its own start told it alice was offline; what matters is what it is told after.
		const start = watcher.transport.events.length;
		const first = await open(alice);
		const second = await open(alice);
		expect(chat.isOnline(alice.id)).toBe(true);
		// The second stream learns of the first: its peer list says alice's peer is online.
		await second.stream.started;
		expect(second.transport.ofType('presence')).toEqual([{ type: 'presence', userId: bob.id, online: true, lastSeenAt: null }]);

		first.stream.close();
		expect(chat.connectionCount(alice.id)).toBe(1);
		second.transport.end();
		const ofAlice = () =>
			watcher.transport.events.slice(start).filter((e) => e.type === 'presence' && e.userId === alice.id) as Extract<
				PushEvent,
				{ type: 'presence' }
			>[];
		await watcher.transport.until(() => ofAlice().some((p) => !p.online));
		const seen = ofAlice();
		expect(seen.map((p) => p.online)).toEqual([true, false]);
		expect(seen[1].lastSeenAt).toEqual(expect.any(String));
		expect(chat.isOnline(alice.id)).toBe(false);
	});

	test('replays from the cursor and then goes live in order, with no gap and no duplicate for events committed during replay', async () => {
		const before = (await open(bob)).transport;
		await before.until((events) => events.some((e) => e.type === 'ready'));
		const from = Number(before.events[0].type === 'ready' ? before.events[0].cursor : NaN);
		for (let i = 0; i < 20; i++) await send(`before ${i}`);

		const transport = new FakeTransport();
		// Replay stops after a few events and waits for the transport, while more are committed.
		transport.holdAfter = 6;
		const { stream } = await open(bob, String(from), transport);
		await transport.until((events) => events.length >= 6);
		const during = await Promise.all(Array.from({ length: 15 }, (_, i) => send(`during ${i}`)));
		transport.release();
		await stream.started;
		const live = await send('live');

		const all = await transport.until((events) => events.some((e) => e.type === 'message' && e.message.id === live.id));
		expect(all[0]).toMatchObject({ type: 'ready', cursor: String(from) });
		const seen = cursors(all);
		expect(seen).toEqual(Array.from({ length: 36 }, (_, i) => from + 1 + i));
		const bodies = transport.ofType('message').map((e) => e.message.body);
		expect(bodies).toEqual([...Array.from({ length: 20 }, (_, i) => `before ${i}`), ...during.map((_, i) => `during ${i}`), 'live']);
		expect(stream.stream.cursor).toBe(from + 36);
	});

	test('an unknown or future cursor gets a reset to the current one', async () => {
		const { stream, transport } = await open(bob, '999999999');
		await stream.started;
		const current = String(stream.stream.cursor);
		expect(transport.events.slice(0, 2)).toEqual([
			{ type: 'reset', cursor: current },
			{ type: 'ready', cursor: current, user: bob }
		]);
	});

	test('closing lets go of everything: the stream, its place under the limit, presence and its bus subscription', async () => {
		const witness = await open(alice);
		const { stream, transport } = await open(bob);
		await stream.started;
		expect(bus.userIds()).toContain(bob.id);
		stream.close();
		stream.close();
		expect(chat.connectionCount(bob.id)).toBe(0);
		expect(streams.size).toBe(1);
		expect(bus.userIds()).not.toContain(bob.id);

		const count = transport.events.length;
		const ack = await send('after close');
		await witness.transport.until((events) => events.some((e) => e.type === 'message' && e.message.id === ack.id));
		expect(transport.events.length).toBe(count);
	});

	test('a transport that ends before its stream has started leaves nothing behind', async () => {
		const transport = new FakeTransport();
		const opening = streams.open(bob, crypto.randomUUID(), undefined, transport);
		transport.end();
		const stream = await opening;
		await stream.started;
		expect(transport.events).toEqual([]);
		expect(chat.connectionCount(bob.id)).toBe(0);
		expect(bus.userIds()).not.toContain(bob.id);
		expect(streams.size).toBe(0);
	});

	test('a revoked session closes its stream with 4001 and releases it; other sessions stay', async () => {
		const kept = await open(bob);
		const sessionId = crypto.randomUUID();
		const transport = new FakeTransport();
		opened.push(await streams.open(bob, sessionId, undefined, transport));
		chat.revokeSessions(bob.id, [sessionId]);
		expect(transport.closes).toEqual([{ code: CLOSE.sessionEnded, reason: 'session ended' }]);
		expect(kept.transport.closes).toEqual([]);
		expect(chat.connectionCount(bob.id)).toBe(1);
	});

	test('shutdown sends every stream away once and releases them all', async () => {
		const all = await Promise.all([open(alice), open(bob), open(bob)]);
		await Promise.all(all.map((s) => s.stream.started));
		await streams.shutdown();
		expect(all.map((s) => s.transport.goneAway)).toEqual([1, 1, 1]);
		expect(streams.size).toBe(0);
		expect(chat.connectionCount(alice.id)).toBe(0);
		expect(chat.connectionCount(bob.id)).toBe(0);
		expect(bus.userIds()).not.toContain(alice.id);
		expect(bus.userIds()).not.toContain(bob.id);
	});
});

describe('the transports on the lifecycle', () => {
	test('a WebSocket gets its replay as frames, and 1001 at shutdown, which releases it', async () => {
		const ws = new FakeWs(true);
		const handle = await streams.open(bob, crypto.randomUUID(), '0', new WebSocketTransport(ws, bob));
		await handle.started;
		expect(ws.frames.map((f) => f.type)).toEqual(['ready', 'presence', 'conversation']);
		expect(chat.connectionCount(bob.id)).toBe(1);
		await streams.shutdown();
		expect(ws.closes.map((c) => c.code)).toEqual([CLOSE.goingAway]);
		expect(chat.connectionCount(bob.id)).toBe(0);
		expect(streams.size).toBe(0);
	});

	test("an SSE response body opens with its padding and the stream, and the reader's cancel releases it", async () => {
		const response = await openEventStream({ streams, config: { sseKeepaliveMs: 60_000 } }, bob, crypto.randomUUID(), '0');
		expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
		const reader = response.body!.getReader();
		const decoder = new TextDecoder();
		let text = '';
		while (!text.includes('event: conversation')) text += decoder.decode((await reader.read()).value);
		expect(text.startsWith(`:${' '.repeat(2048)}\n\nretry: 2000\n\nid: 0\nevent: ready\n`)).toBe(true);
		expect(chat.connectionCount(bob.id)).toBe(1);
		await reader.cancel();
		expect(chat.connectionCount(bob.id)).toBe(0);
		expect(streams.size).toBe(0);
	});

	test('an SSE stream refused by the limit rejects before anything is written', async () => {
		await Promise.all(Array.from({ length: LIMIT }, () => open(bob)));
		const refusal = await openEventStream({ streams, config: { sseKeepaliveMs: 60_000 } }, bob, crypto.randomUUID(), undefined).catch(
			(error) => error
		);
		expect(refusal).toMatchObject({ code: 'rate_limited' });
		expect(chat.connectionCount(bob.id)).toBe(LIMIT);
	});
});
