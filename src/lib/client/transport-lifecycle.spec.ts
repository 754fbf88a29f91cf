// @vitest-environment node
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ConnectionState } from './transport';
import { ConnectionLifecycle, type LifecycleOptions } from './transport-lifecycle';

const windowEvents = new EventTarget();
const documentEvents = Object.assign(new EventTarget(), { visibilityState: 'visible' });
const nav = { onLine: true };

beforeEach(() => {
	vi.useFakeTimers();
	nav.onLine = true;
	documentEvents.visibilityState = 'visible';
	vi.stubGlobal('navigator', nav);
	vi.stubGlobal('document', documentEvents);
	vi.stubGlobal('addEventListener', windowEvents.addEventListener.bind(windowEvents));
	vi.stubGlobal('removeEventListener', windowEvents.removeEventListener.bind(windowEvents));
});

const lifecycles: ConnectionLifecycle[] = [];

afterEach(() => {
	lifecycles.splice(0).forEach((l) => l.stop());
	vi.useRealTimers();
	vi.unstubAllGlobals();
});

/** A wire that only records what the lifecycle asked of it; the test plays the connection. */
function fakeWire() {
	const wire = {
		connection: false,
		opened: [] as (string | null)[],
		drops: 0,
		checks: 0,
		held: () => wire.connection,
		open(cursor: string | null) {
			wire.connection = true;
			wire.opened.push(cursor);
		},
		drop() {
			wire.connection = false;
			wire.drops++;
		},
		check() {
			wire.checks++;
		}
	};
	return wire;
}

async function started(options: LifecycleOptions = {}, cursor: () => Promise<string | null> = async () => null) {
	const wire = fakeWire();
	const lifecycle = new ConnectionLifecycle(wire, { random: () => 0.5, ...options });
	lifecycles.push(lifecycle);
	const states: ConnectionState[] = [];
	lifecycle.on('state', (s) => states.push(s));
	lifecycle.start(cursor);
	await vi.advanceTimersByTimeAsync(0);
	return { wire, lifecycle, states };
}

/** The connection the wire holds fails: the wire drops it and reports it lost. */
function fail(t: Awaited<ReturnType<typeof started>>) {
	t.wire.drop();
	t.lifecycle.lost();
}

describe('ConnectionLifecycle', () => {
	it('opens from the cursor asked for at that moment, and reports each state change once', async () => {
		let cursor: string | null = null;
		const t = await started({}, async () => cursor);
		expect(t.wire.opened).toEqual([null]);
		t.lifecycle.live();
		t.lifecycle.live();
		expect(t.states).toEqual(['live']);

		cursor = '42';
		fail(t);
		expect(t.lifecycle.state).toBe('waiting');
		await vi.advanceTimersByTimeAsync(500);
		expect(t.wire.opened).toEqual([null, '42']);
		expect(t.states).toEqual(['live', 'waiting', 'connecting']);
	});

	it('waits a full-jitter backoff that doubles per failure and starts over once live', async () => {
		const t = await started({ random: () => 0.999 });
		const waits: number[] = [];
		for (let i = 0; i < 4; i++) {
			const before = t.wire.opened.length;
			fail(t);
			let waited = 0;
			while (t.wire.opened.length === before) {
				await vi.advanceTimersByTimeAsync(1);
				waited++;
			}
			waits.push(waited);
		}
		expect(waits).toEqual([999, 1998, 3996, 7992]);

		t.lifecycle.live();
		fail(t);
		await vi.advanceTimersByTimeAsync(999);
		expect(t.wire.opened).toHaveLength(6);
	});

	it('never opens a second connection while one is held', async () => {
		const t = await started();
		await t.lifecycle.open();
		windowEvents.dispatchEvent(new Event('online'));
		await vi.advanceTimersByTimeAsync(60_000);
		expect(t.wire.opened).toHaveLength(1);
		expect(t.wire.checks).toBe(1);
	});

	it('goes offline instead of retrying while the browser has no network, and reconnects on "online"', async () => {
		const t = await started();
		nav.onLine = false;
		windowEvents.dispatchEvent(new Event('offline'));
		expect(t.wire.drops).toBe(1);
		expect(t.lifecycle.state).toBe('offline');
		t.lifecycle.lost();
		await vi.advanceTimersByTimeAsync(60_000);
		expect(t.lifecycle.state).toBe('offline');
		expect(t.wire.opened).toHaveLength(1);

		nav.onLine = true;
		windowEvents.dispatchEvent(new Event('online'));
		await vi.advanceTimersByTimeAsync(0);
		expect(t.wire.opened).toHaveLength(2);
	});

	it('"offline" cancels a pending retry', async () => {
		const t = await started();
		fail(t);
		windowEvents.dispatchEvent(new Event('offline'));
		await vi.advanceTimersByTimeAsync(60_000);
		expect(t.wire.opened).toHaveLength(1);
		expect(t.lifecycle.state).toBe('offline');
	});

	it('a tab becoming visible skips the backoff only when asked to, and checks a held connection', async () => {
		const plain = await started();
		fail(plain);
		documentEvents.dispatchEvent(new Event('visibilitychange'));
		await vi.advanceTimersByTimeAsync(0);
		expect(plain.wire.opened).toHaveLength(1);
		plain.lifecycle.stop();

		const t = await started({ reconnectOnVisible: true });
		documentEvents.dispatchEvent(new Event('visibilitychange'));
		expect(t.wire.checks).toBe(1);
		fail(t);
		documentEvents.visibilityState = 'hidden';
		documentEvents.dispatchEvent(new Event('visibilitychange'));
		await vi.advanceTimersByTimeAsync(0);
		expect(t.wire.opened).toHaveLength(1);
		documentEvents.visibilityState = 'visible';
		documentEvents.dispatchEvent(new Event('visibilitychange'));
		await vi.advanceTimersByTimeAsync(0);
		expect(t.wire.opened).toHaveLength(2);
	});

	it('stop drops the connection, cancels the retry, ignores the browser and ends in `closed`', async () => {
		const t = await started({ reconnectOnVisible: true });
		fail(t);
		t.lifecycle.stop();
		expect(t.lifecycle.state).toBe('closed');
		windowEvents.dispatchEvent(new Event('online'));
		documentEvents.dispatchEvent(new Event('visibilitychange'));
		t.lifecycle.lost();
		await vi.advanceTimersByTimeAsync(60_000);
		expect(t.wire.opened).toHaveLength(1);
		expect(t.lifecycle.state).toBe('closed');
	});

	it('a stop while the cursor is being read opens nothing', async () => {
		let release: (cursor: string | null) => void = () => {};
		const wire = fakeWire();
		const lifecycle = new ConnectionLifecycle(wire);
		lifecycle.start(() => new Promise((resolve) => (release = resolve)));
		lifecycle.stop();
		release('7');
		await vi.advanceTimersByTimeAsync(0);
		expect(wire.opened).toEqual([]);
	});
});
