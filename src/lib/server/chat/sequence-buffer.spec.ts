import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { AppError } from '$lib/errors';
import type { Ack } from '$lib/types';
import { SequenceBuffer, type BufferedSend } from './sequence-buffer';

/**
 * An in-memory "database" of committed sends, so the buffer's decisions are observable. Each run
 * is one batch (recorded in `batches`) written as group commit writes a run: in order, and after
 * a send that fails other than by a refusal, nothing more of the run.
 */
function fakeStore() {
	const committed: BufferedSend[] = [];
	const batches: number[][] = [];
	const failIds = new Map<string, unknown>();
	/** Set to hold every run's answer until `release` is called. */
	let gate: Promise<void> | null = null;
	let release = () => {};
	const refusal = (e: unknown) => e instanceof AppError && e.status < 500;
	const store = {
		committed,
		batches,
		failIds,
		hold() {
			gate = new Promise((resolve) => (release = resolve));
		},
		open() {
			gate = null;
			release();
		},
		nextExpected: async (conversationId: string, clientId: string) => {
			const mine = committed.filter((s) => s.conversationId === conversationId && s.clientId === clientId);
			return Math.max(0, ...mine.map((s) => s.clientSeq)) + 1;
		},
		commit: (sends: BufferedSend[]): Promise<Ack>[] => {
			batches.push(sends.map((s) => s.clientSeq));
			let broken: unknown;
			const answers = sends.map((send): (() => Ack) => {
				const failure = broken ?? failIds.get(send.id);
				if (failure !== undefined) {
					if (!refusal(failure)) broken ??= failure;
					return () => {
						throw failure;
					};
				}
				committed.push(send);
				const ack = { id: send.id, conversationId: send.conversationId, seq: committed.length, createdAt: new Date(0).toISOString() };
				return () => ack;
			});
			const waited = gate ?? Promise.resolve();
			return answers.map((answer) => waited.then(answer));
		}
	};
	return store;
}

const send = (clientSeq: number, clientId = 'c1', conversationId = 'conv'): BufferedSend => ({
	id: `${conversationId}-${clientId}-${clientSeq}`,
	conversationId,
	clientId,
	clientSeq
});

describe('SequenceBuffer', () => {
	beforeEach(() => {
		// setImmediate stays real: a key's run leaves after the decisions already waiting, at once.
		vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
	});
	afterEach(() => {
		vi.useRealTimers();
	});

	function setup(overrides: { maxHeldPerKey?: number; maxHeldTotal?: number } = {}) {
		const store = fakeStore();
		const buffer = new SequenceBuffer({
			gapTimeoutMs: 5000,
			maxHeldPerKey: overrides.maxHeldPerKey ?? 100,
			maxHeldTotal: overrides.maxHeldTotal ?? 1000,
			recheckMs: 60_000,
			maxRun: 4,
			nextExpected: store.nextExpected,
			commit: store.commit
		});
		return { store, buffer };
	}

	test('commits 1, 3, 2 as 1, 2, 3', async () => {
		const { store, buffer } = setup();
		const acks = await Promise.all([buffer.submit(send(1)), buffer.submit(send(3)), buffer.submit(send(2))]);
		expect(store.committed.map((s) => s.clientSeq)).toEqual([1, 2, 3]);
		expect(acks.map((a) => a.seq)).toEqual([1, 3, 2]);
		expect(buffer.heldCount).toBe(0);
	});

	test('holds a send behind a gap until the timeout, then commits it; a late one still lands', async () => {
		const { store, buffer } = setup();
		await buffer.submit(send(1));
		let acked = false;
		const three = buffer.submit(send(3)).then((a) => ((acked = true), a));
		await vi.advanceTimersByTimeAsync(4999);
		expect(acked).toBe(false);
		expect(buffer.heldCount).toBe(1);
		await vi.advanceTimersByTimeAsync(1);
		expect((await three).seq).toBe(2);
		const late = await buffer.submit(send(2));
		expect(late.seq).toBe(3);
		expect(store.committed.map((s) => s.clientSeq)).toEqual([1, 3, 2]);
	});

	test('after a gap is given up, the held sends commit in clientSeq order whatever their arrival order', async () => {
		const { store, buffer } = setup();
		const all = Promise.all([5, 3, 4].map((n) => buffer.submit(send(n))));
		await vi.advanceTimersByTimeAsync(5000);
		await all;
		expect(store.committed.map((s) => s.clientSeq)).toEqual([3, 4, 5]);
	});

	test('"next expected" comes from the database: a restart with 1..4 stored continues at 5', async () => {
		const { store, buffer } = setup();
		for (let i = 1; i <= 4; i++) store.committed.push(send(i));
		await buffer.submit(send(5));
		expect(store.committed.at(-1)!.clientSeq).toBe(5);
		expect(buffer.heldCount).toBe(0);
	});

	test('a gap filled by another instance is noticed when the next send looks early', async () => {
		const { store, buffer } = setup();
		await buffer.submit(send(1));
		store.committed.push(send(2)); // committed elsewhere
		await buffer.submit(send(3));
		expect(buffer.heldCount).toBe(0);
		expect(store.committed.map((s) => s.clientSeq)).toEqual([1, 2, 3]);
	});

	test('keys are independent: one client waiting does not delay another', async () => {
		const { store, buffer } = setup();
		void buffer.submit(send(2, 'slow'));
		await buffer.submit(send(1, 'fast'));
		expect(store.committed.map((s) => s.clientId)).toEqual(['fast']);
	});

	test('is bounded per key and in total: over the cap an early send is refused with rate_limited', async () => {
		const { buffer } = setup({ maxHeldPerKey: 2, maxHeldTotal: 3 });
		void buffer.submit(send(10, 'a'));
		void buffer.submit(send(11, 'a'));
		await expect(buffer.submit(send(12, 'a'))).rejects.toMatchObject({ code: 'rate_limited' });
		void buffer.submit(send(10, 'b'));
		await expect(buffer.submit(send(11, 'c'))).rejects.toMatchObject({ code: 'rate_limited' });
		expect(buffer.heldCount).toBe(3);
	});

	test('a send refused for good does not block the ones after it; a transient failure keeps its slot', async () => {
		const { store, buffer } = setup();
		store.failIds.set(send(1).id, new AppError('conflict', 'reused id'));
		await expect(buffer.submit(send(1))).rejects.toMatchObject({ code: 'conflict' });
		await buffer.submit(send(2));
		expect(store.committed.map((s) => s.clientSeq)).toEqual([2]);

		store.failIds.set(send(3).id, Object.assign(new Error('connection refused'), { code: 'ECONNREFUSED' }));
		await expect(buffer.submit(send(3))).rejects.toThrow();
		let fourAcked = false;
		void buffer.submit(send(4)).then(() => (fourAcked = true));
		await vi.advanceTimersByTimeAsync(0);
		expect(fourAcked).toBe(false); // 3 may still come: wait for it
		store.failIds.delete(send(3).id);
		await buffer.submit(send(3));
		await vi.advanceTimersByTimeAsync(0);
		expect(store.committed.map((s) => s.clientSeq)).toEqual([2, 3, 4]);
	});

	test('a commit of unknown outcome (stored, but answered unavailable) or a database away wedges nothing', async () => {
		const { store, buffer } = setup();
		const options = buffer['options'];
		const commit = options.commit;
		// The COMMIT went through but its answer was lost: the send is stored, the caller told unavailable.
		options.commit = (sends) =>
			commit(sends).map((answer) =>
				answer.then(() => {
					throw new AppError('unavailable', 'lost');
				})
			);
		const lost = buffer.submit(send(1));
		await expect(lost).rejects.toMatchObject({ code: 'unavailable' });
		options.commit = commit;
		// Nothing in memory stands for what the database holds: 2 is next, and is not held for 1.
		await buffer.submit(send(2));
		expect(store.committed.map((s) => s.clientSeq)).toEqual([1, 2]);

		const nextExpected = store.nextExpected;
		const away = Object.assign(new Error('connection closed'), { code: 'CONNECTION_CLOSED' });
		const fresh = (n: number) => send(n, 'c2');
		options.nextExpected = async () => {
			throw away;
		};
		await expect(buffer.submit(fresh(1))).rejects.toBe(away);
		options.nextExpected = nextExpected;
		await buffer.submit(fresh(1));
		await buffer.submit(fresh(2));
		expect(store.committed.filter((s) => s.clientId === 'c2').map((s) => s.clientSeq)).toEqual([1, 2]);
	});

	test('while the database is away, sends held behind a failed one fail with it rather than wait out the gap', async () => {
		const { store, buffer } = setup();
		const away = new AppError('unavailable', 'the database is away');
		store.failIds.set(send(1).id, away);
		const held = [buffer.submit(send(2)), buffer.submit(send(3))];
		held.forEach((h) => h.catch(() => {}));
		await vi.advanceTimersByTimeAsync(0);
		expect(buffer.heldCount).toBe(2);
		await expect(buffer.submit(send(1))).rejects.toBe(away);
		for (const h of held) await expect(h).rejects.toBe(away);
		expect(buffer.heldCount).toBe(0);
		// Back: the client resends all three, and they commit in order.
		store.failIds.delete(send(1).id);
		await Promise.all([buffer.submit(send(3)), buffer.submit(send(2)), buffer.submit(send(1))]);
		expect(store.committed.map((s) => s.clientSeq)).toEqual([1, 2, 3]);
	});

	test("a run of one client's sends goes as one batch, in clientSeq order, at most maxRun long", async () => {
		const { store, buffer } = setup();
		await Promise.all([3, 1, 2].map((n) => buffer.submit(send(n))));
		expect(store.batches).toEqual([[1, 2, 3]]);
		// Those that arrive while a run commits leave together when it is answered.
		store.hold();
		const first = buffer.submit(send(4));
		await vi.waitFor(() => expect(store.batches).toHaveLength(2));
		const rest = [5, 6, 7, 8, 9].map((n) => buffer.submit(send(n)));
		store.open();
		await Promise.all([first, ...rest]);
		expect(store.batches).toEqual([[1, 2, 3], [4], [5, 6, 7, 8], [9]]);
		expect(store.committed.map((s) => s.clientSeq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
	});

	test('a run stops before the send that would take it past maxRunBytes; a send larger than that still goes, alone', async () => {
		const store = fakeStore();
		// Sizes by clientSeq: 1–3 weigh 40 each, 4 weighs 150, 5 weighs 10.
		const size: Record<number, number> = { 1: 40, 2: 40, 3: 40, 4: 150, 5: 10 };
		const buffer = new SequenceBuffer({
			gapTimeoutMs: 5000,
			maxHeldPerKey: 100,
			maxHeldTotal: 1000,
			recheckMs: 60_000,
			maxRun: 4,
			maxRunBytes: 100,
			sizeOf: (s: BufferedSend) => size[s.clientSeq],
			nextExpected: store.nextExpected,
			commit: store.commit
		});
		await Promise.all([5, 4, 3, 2, 1].map((n) => buffer.submit(send(n))));
		expect(store.batches).toEqual([[1, 2], [3], [4], [5]]);
		expect(store.committed.map((s) => s.clientSeq)).toEqual([1, 2, 3, 4, 5]);
	});

	test('a run that fails for now acks none after the failure; what came after waits, and the resends keep the order', async () => {
		const { store, buffer } = setup();
		store.failIds.set(send(2).id, new Error('the transaction failed'));
		store.hold();
		const run = [1, 2, 3].map((n) => buffer.submit(send(n)));
		run.forEach((r) => r.catch(() => {}));
		await vi.waitFor(() => expect(store.batches).toHaveLength(1));
		// In line behind the run, on the belief that it commits: it does not, so 4 is early now.
		const four = buffer.submit(send(4));
		store.open();
		await expect(run[0]).resolves.toMatchObject({ id: send(1).id });
		await expect(run[1]).rejects.toThrow('the transaction failed');
		await expect(run[2]).rejects.toThrow('the transaction failed');
		await vi.waitFor(() => expect(buffer.heldCount).toBe(1));
		expect(store.committed.map((s) => s.clientSeq)).toEqual([1]);
		expect(buffer.isAhead('conv', 'c1', 2)).toBe(true);
		// The client resends 2 and 3: they go first, with 4 after them.
		store.failIds.delete(send(2).id);
		await Promise.all([buffer.submit(send(3)), buffer.submit(send(2)), four]);
		expect(store.batches.at(-1)).toEqual([2, 3, 4]);
		expect(store.committed.map((s) => s.clientSeq)).toEqual([1, 2, 3, 4]);
		expect(buffer.heldCount).toBe(0);
	});

	test('a refusal in a run does not stop the rest of it', async () => {
		const { store, buffer } = setup();
		store.failIds.set(send(2).id, new AppError('conflict', 'reused id'));
		const run = await Promise.allSettled([1, 2, 3].map((n) => buffer.submit(send(n))));
		expect(run.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
		expect(store.batches).toEqual([[1, 2, 3]]);
		await buffer.submit(send(4));
		expect(store.committed.map((s) => s.clientSeq)).toEqual([1, 3, 4]);
	});

	test('flush commits everything held, in order, without waiting for the timeout', async () => {
		const { store, buffer } = setup();
		const held = Promise.all([buffer.submit(send(4)), buffer.submit(send(2))]);
		await vi.advanceTimersByTimeAsync(0);
		expect(buffer.heldCount).toBe(2);
		await buffer.flush();
		await held;
		expect(store.committed.map((s) => s.clientSeq)).toEqual([2, 4]);
	});
});
