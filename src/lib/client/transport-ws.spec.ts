// @vitest-environment node
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ServerFrame } from '$lib/types';
import { PING_INTERVAL_MS, PONG_TIMEOUT_MS, WsTransport } from './transport-ws';
import type { ConnectionState } from './transport';

/** Just enough of a browser WebSocket for the transport, driven by the test. */
class FakeSocket {
	static OPEN = 1;
	static all: FakeSocket[] = [];
	readyState = 0;
	sent: unknown[] = [];
	onopen: (() => void) | null = null;
	onmessage: ((event: { data: string }) => void) | null = null;
	onclose: ((event: { code: number }) => void) | null = null;
	closed = false;
	constructor(readonly url: string) {
		FakeSocket.all.push(this);
	}
	send(data: string) {
		this.sent.push(JSON.parse(data));
	}
	close() {
		this.closed = true;
	}
	open() {
		this.readyState = 1;
		this.onopen?.();
	}
	frame(frame: ServerFrame) {
		this.onmessage?.({ data: JSON.stringify(frame) });
	}
	drop(code = 1006) {
		this.readyState = 3;
		this.onclose?.({ code });
	}
}

const windowEvents = new EventTarget();
const documentEvents = Object.assign(new EventTarget(), { visibilityState: 'visible' });
const nav = { onLine: true };

beforeEach(() => {
	vi.useFakeTimers();
	FakeSocket.all = [];
	nav.onLine = true;
	vi.stubGlobal('WebSocket', FakeSocket);
	vi.stubGlobal('navigator', nav);
	vi.stubGlobal('document', documentEvents);
	vi.stubGlobal('location', { protocol: 'http:', host: 'example.test' });
	vi.stubGlobal('addEventListener', windowEvents.addEventListener.bind(windowEvents));
	vi.stubGlobal('removeEventListener', windowEvents.removeEventListener.bind(windowEvents));
});

const transports: WsTransport[] = [];

afterEach(() => {
	transports.splice(0).forEach((t) => t.close());
	vi.useRealTimers();
	vi.unstubAllGlobals();
});

async function started(random = () => 0.5) {
	const transport = new WsTransport({ random });
	transports.push(transport);
	const states: ConnectionState[] = [];
	transport.on('state', (s) => states.push(s));
	let cursor: string | null = null;
	transport.connect(async () => cursor);
	await vi.advanceTimersByTimeAsync(0);
	return { transport, states, setCursor: (c: string) => (cursor = c), socket: () => FakeSocket.all.at(-1)! };
}

const READY: ServerFrame = { type: 'ready', cursor: '5', user: { id: 'u', username: 'u_name' } };

describe('WsTransport', () => {
	it('is live only after `ready`, and resumes from the cursor it is given on each connect', async () => {
		const t = await started();
		expect(t.socket().url).toBe('ws://example.test/ws');
		t.socket().open();
		expect(t.transport.send({ type: 'ping' })).toBe(false);
		t.socket().frame(READY);
		expect(t.transport.state).toBe('live');
		expect(t.transport.send({ type: 'typing', conversationId: 'c' })).toBe(true);

		t.setCursor('42');
		t.socket().drop();
		expect(t.transport.state).toBe('waiting');
		await vi.advanceTimersByTimeAsync(1_000);
		expect(t.socket().url).toBe('ws://example.test/ws?cursor=42');
	});

	it('backs off with full jitter, doubling to the 30 s cap, and starts over once live', async () => {
		const t = await started(() => 0.999);
		const waits: number[] = [];
		for (let i = 0; i < 7; i++) {
			const before = FakeSocket.all.length;
			t.socket().drop();
			let waited = 0;
			while (FakeSocket.all.length === before) {
				await vi.advanceTimersByTimeAsync(1);
				waited++;
			}
			waits.push(waited);
		}
		expect(waits).toEqual([999, 1998, 3996, 7992, 15984, 29970, 29970]);

		t.socket().open();
		t.socket().frame(READY);
		t.socket().drop();
		await vi.advanceTimersByTimeAsync(999);
		expect(t.socket().closed).toBe(false);
		expect(FakeSocket.all.length).toBe(9);
	});

	it('replaces a connection that stops answering pings', async () => {
		const t = await started();
		const first = t.socket();
		first.open();
		first.frame(READY);
		await vi.advanceTimersByTimeAsync(PING_INTERVAL_MS);
		expect(first.sent).toContainEqual({ type: 'ping' });
		first.frame({ type: 'pong' });
		await vi.advanceTimersByTimeAsync(PONG_TIMEOUT_MS);
		expect(first.closed).toBe(false);

		await vi.advanceTimersByTimeAsync(PING_INTERVAL_MS + PONG_TIMEOUT_MS);
		expect(first.closed).toBe(true);
		expect(t.states).toContain('stale');
		expect(FakeSocket.all.length).toBe(2);
		// Noticed well within a minute of the last sign of life.
		expect(PING_INTERVAL_MS + PONG_TIMEOUT_MS).toBeLessThan(60_000);
	});

	it('goes offline on "offline" and reconnects at once on "online" and on becoming visible', async () => {
		const t = await started();
		t.socket().open();
		t.socket().frame(READY);
		nav.onLine = false;
		windowEvents.dispatchEvent(new Event('offline'));
		expect(t.transport.state).toBe('offline');
		await vi.advanceTimersByTimeAsync(60_000);
		expect(FakeSocket.all.length).toBe(1);

		nav.onLine = true;
		windowEvents.dispatchEvent(new Event('online'));
		await vi.advanceTimersByTimeAsync(0);
		expect(FakeSocket.all.length).toBe(2);

		// Drop it, then a hidden tab comes back: no waiting out the backoff.
		t.socket().drop();
		documentEvents.dispatchEvent(new Event('visibilitychange'));
		await vi.advanceTimersByTimeAsync(0);
		expect(FakeSocket.all.length).toBe(3);
	});

	it('reports a session ended by the server instead of reconnecting', async () => {
		const t = await started();
		let ended = false;
		t.transport.on('ended', () => (ended = true));
		t.socket().open();
		t.socket().frame(READY);
		t.socket().drop(4001);
		await vi.advanceTimersByTimeAsync(60_000);
		expect(ended).toBe(true);
		expect(FakeSocket.all.length).toBe(1);
	});
});
