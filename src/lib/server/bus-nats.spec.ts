/**
 * NatsBus on the machine's real nats-server (TEST_NATS_URL, default nats://127.0.0.1:4222), each
 * test on subjects of its own: notes cross instances, each instance hears only the users it
 * subscribed, revocations and presence reach every instance, and a cut connection is noticed,
 * reconnected and followed by a re-read of every local stream.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, test } from 'vitest';
import { startTcpProxy, type TcpProxy } from '../../../tests/integration/proxies';
import type { Note, RevokedNote } from './bus';
import { NatsBus } from './bus-nats';

const NATS = new URL(process.env.TEST_NATS_URL ?? 'nats://127.0.0.1:4222');

const open: NatsBus[] = [];
const proxies: TcpProxy[] = [];

async function cluster(count: number, options: { heartbeatMs?: number; via?: TcpProxy } = {}): Promise<NatsBus[]> {
	const prefix = `t${randomUUID().slice(0, 8)}`;
	const url = options.via ? `nats://127.0.0.1:${options.via.port}` : NATS.href;
	const buses = await Promise.all(Array.from({ length: count }, () => NatsBus.start([url], { prefix, heartbeatMs: options.heartbeatMs })));
	open.push(...buses);
	return buses;
}

/** The next `count` notes a listener on `bus` gets for `userId`. */
function next(bus: NatsBus, userId: string, count = 1): Promise<Note[]> {
	return new Promise((resolve) => {
		const got: Note[] = [];
		const stop = bus.subscribe(userId, (note) => {
			got.push(note);
			if (got.length === count) {
				stop();
				resolve(got);
			}
		});
	});
}

afterEach(async () => {
	await Promise.all(open.splice(0).map((bus) => bus.close()));
	await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
});

describe('NatsBus', () => {
	test('a note published on one instance reaches the listeners of its user on another, as a hint without the event', async () => {
		const [a, b] = await cluster(2);
		const user = randomUUID();
		const heard = next(b, user);
		await b.flushed();
		a.publish([
			{
				kind: 'event',
				userId: user,
				seq: 7,
				event: { type: 'receipt', cursor: '7', conversationId: randomUUID(), userId: user, deliveredSeq: 1, readSeq: 0 }
			}
		]);
		expect(await heard).toEqual([{ kind: 'event', userId: user, seq: 7 }]);
	});

	test('an instance hears only the users connected to it, and stops hearing one when its last listener goes', async () => {
		const [a, b, c] = await cluster(3);
		const mine = randomUUID();
		const theirs = randomUUID();
		const stopMine = b.subscribe(mine, () => {});
		const heardTheirs = next(c, theirs);
		await Promise.all([b.flushed(), c.flushed()]);
		expect(b.subscribedUsers()).toEqual([mine]);
		expect(c.subscribedUsers()).toEqual([theirs]);
		const before = b.received();
		a.publish([{ kind: 'event', userId: theirs, seq: 1 }]);
		await heardTheirs;
		// c has it; b never got a message for a user it does not serve.
		await b.flushed();
		expect(b.received()).toBe(before);
		stopMine();
		expect(b.subscribedUsers()).toEqual([]);
	});

	test('revocations reach every instance, whether or not the user is connected there', async () => {
		const [a, b, c] = await cluster(3);
		const user = randomUUID();
		const seen = (bus: NatsBus) => new Promise<RevokedNote>((resolve) => bus.onRevoked(resolve));
		const atB = seen(b);
		const atC = seen(c);
		await Promise.all([b.flushed(), c.flushed()]);
		a.publish([{ kind: 'revoked', userId: user, sessionIds: ['s1', 's2'] }]);
		const expected = { kind: 'revoked', userId: user, sessionIds: ['s1', 's2'] };
		expect(await atB).toEqual(expected);
		expect(await atC).toEqual(expected);
	});

	test('presence: an instance knows who is connected elsewhere; a closing instance leaves them to the others', async () => {
		const [a, b] = await cluster(2, { heartbeatMs: 200 });
		const user = randomUUID();
		a.setLocalPresence(user, true);
		await expect.poll(() => b.onlineElsewhere(user)).toBe(true);
		const gone = new Promise<string>((resolve) => b.onPresenceGone(resolve));
		await a.close();
		expect(await gone).toBe(user);
		expect(b.onlineElsewhere(user)).toBe(false);
	});

	test('an instance joining late learns who is connected on the others', async () => {
		const [a] = await cluster(1);
		const user = randomUUID();
		a.setLocalPresence(user, true);
		const prefix = (a as unknown as { prefix: string }).prefix;
		const late = await NatsBus.start([NATS.href], { prefix });
		open.push(late);
		await expect.poll(() => late.onlineElsewhere(user)).toBe(true);
	});

	test('a cut connection is noticed and reconnected, every local stream re-reads its log, and notes flow again', async () => {
		const proxy = await startTcpProxy(NATS.hostname, Number(NATS.port || 4222));
		proxies.push(proxy);
		const [here] = await cluster(1, { via: proxy });
		const prefix = (here as unknown as { prefix: string }).prefix;
		const there = await NatsBus.start([NATS.href], { prefix });
		open.push(there);
		const user = randomUUID();
		const notes: Note[] = [];
		here.subscribe(user, (note) => notes.push(note));
		await here.flushed();
		proxy.cut();
		// Published while `here` is away: lost to it, which the resync makes up for.
		there.publish([{ kind: 'event', userId: user, seq: 1 }]);
		proxy.restore();
		await expect
			.poll(() => notes.some((note) => note.kind === 'event' && note.seq === Number.MAX_SAFE_INTEGER), { timeout: 15_000 })
			.toBe(true);
		// Its subscription is back on the server once a round trip after the reconnect is answered.
		await here.flushed();
		const after = new Promise<void>((resolve) => here.subscribe(user, (note) => note.kind === 'event' && note.seq === 2 && resolve()));
		there.publish([{ kind: 'event', userId: user, seq: 2 }]);
		await after;
	});
});
