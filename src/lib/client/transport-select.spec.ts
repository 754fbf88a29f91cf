// @vitest-environment node
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { UNCHANGED } from '$lib/test-fixtures';
import type { ClientFrame } from '$lib/schemas';
import type { ServerFrame } from '$lib/types';
import { Emitter, type ConnectionState, type Transport, type TransportEvents, type TransportKind } from './transport';
import { FORCE_KEY, READY_TIMEOUT_MS, SelectingTransport, WS_FAILED_KEY, WS_FAILED_TTL_MS } from './transport-select';

/** A carrier driven by the test: it does nothing unless told, like a socket behind a proxy. */
class FakeTransport implements Transport {
	readonly emitter = new Emitter<TransportEvents>();
	state: ConnectionState = 'connecting';
	connected = false;
	closed = false;
	sent: ClientFrame[] = [];
	constructor(readonly kind: TransportKind) {}
	connect(): void {
		this.connected = true;
	}
	send(frame: ClientFrame): boolean {
		if (this.state !== 'live') return false;
		this.sent.push(frame);
		return true;
	}
	close(): void {
		this.closed = true;
		this.state = 'closed';
	}
	on<K extends keyof TransportEvents>(event: K, listener: (value: TransportEvents[K]) => void) {
		return this.emitter.on(event, listener);
	}
	ready(cursor = '7') {
		this.state = 'live';
		this.emitter.emit('state', 'live');
		this.emitter.emit('frame', { type: 'ready', cursor, user: { id: 'u', username: 'u_name' } });
	}
	frame(frame: ServerFrame) {
		this.emitter.emit('frame', frame);
	}
	refuse() {
		this.state = 'waiting';
		this.emitter.emit('state', 'waiting');
		this.emitter.emit('refused', undefined);
	}
}

class MemoryStorage {
	map = new Map<string, string>();
	getItem(key: string) {
		return this.map.get(key) ?? null;
	}
	setItem(key: string, value: string) {
		this.map.set(key, value);
	}
	removeItem(key: string) {
		this.map.delete(key);
	}
}

let made: FakeTransport[];
let storage: MemoryStorage;
let session: MemoryStorage;
const selectors: SelectingTransport[] = [];

beforeEach(() => {
	vi.useFakeTimers();
	made = [];
	storage = new MemoryStorage();
	session = new MemoryStorage();
});

afterEach(() => {
	selectors.splice(0).forEach((s) => s.close());
	vi.useRealTimers();
});

function started(search = '') {
	const selector = new SelectingTransport({
		ws: () => {
			const t = new FakeTransport('ws');
			made.push(t);
			return t;
		},
		sse: () => {
			const t = new FakeTransport('sse');
			made.push(t);
			return t;
		},
		storage,
		session,
		search,
		random: () => 0
	});
	selectors.push(selector);
	const frames: ServerFrame[] = [];
	const states: ConnectionState[] = [];
	const kinds: TransportKind[] = [];
	selector.on('frame', (f) => frames.push(f));
	selector.on('state', (s) => states.push(s));
	selector.on('kind', (k) => kinds.push(k));
	selector.connect(async () => 'c');
	const last = (kind: TransportKind) => made.filter((t) => t.kind === kind).at(-1)!;
	return { selector, frames, states, kinds, ws: () => last('ws'), sse: () => last('sse') };
}

const message = (cursor: string): ServerFrame => ({
	type: 'message',
	cursor,
	message: {
		id: `m${cursor}`,
		conversationId: 'c',
		seq: Number(cursor),
		senderId: 'p',
		clientId: 'x',
		clientSeq: 1,
		body: 'hi',
		createdAt: '',
		...UNCHANGED
	}
});

describe('SelectingTransport', () => {
	it('stays on WebSocket when it reaches `ready`, and forgets an old failure', async () => {
		storage.setItem(WS_FAILED_KEY, '0');
		const t = started();
		expect(t.selector.kind).toBe('ws');
		t.ws().ready();
		expect(t.selector.state).toBe('live');
		await vi.advanceTimersByTimeAsync(READY_TIMEOUT_MS * 3);
		expect(made.map((m) => m.kind)).toEqual(['ws']);
		expect(storage.getItem(WS_FAILED_KEY)).toBeNull();
	});

	it('falls back to SSE at once when the upgrade is refused or the socket closes before `ready`', () => {
		const t = started();
		t.ws().refuse();
		expect(t.ws().closed).toBe(true);
		expect(t.selector.kind).toBe('sse');
		expect(t.kinds).toEqual(['sse']);
		expect(t.sse().connected).toBe(true);
		t.sse().ready();
		expect(t.selector.state).toBe('live');
		expect(t.frames.at(-1)?.type).toBe('ready');
	});

	it('falls back when no `ready` arrives within the timeout (a proxy that swallows frames)', async () => {
		const t = started();
		await vi.advanceTimersByTimeAsync(READY_TIMEOUT_MS - 1);
		expect(t.selector.kind).toBe('ws');
		await vi.advanceTimersByTimeAsync(1);
		expect(t.selector.kind).toBe('sse');
		expect(t.ws().closed).toBe(true);
	});

	it('remembers a failed WebSocket once SSE works, so the next load starts on SSE', () => {
		const t = started();
		t.ws().refuse();
		expect(storage.getItem(WS_FAILED_KEY)).toBeNull();
		t.sse().ready();
		expect(Number(storage.getItem(WS_FAILED_KEY))).toBeGreaterThan(Date.now() + WS_FAILED_TTL_MS - 1000);

		const next = started();
		expect(next.selector.kind).toBe('sse');
		expect(made.filter((m) => m.kind === 'ws')).toHaveLength(1);
	});

	it('an expired memory tries WebSocket again', () => {
		storage.setItem(WS_FAILED_KEY, String(Date.now() - 1));
		expect(started().selector.kind).toBe('ws');
	});

	it('probes WebSocket with backoff and moves back when a probe gets `ready`, passing every frame on in order', async () => {
		const t = started();
		t.ws().refuse();
		t.sse().ready();
		t.sse().frame(message('8'));

		// First probe after half of 2 s (random() = 0): refused, so the next waits longer.
		await vi.advanceTimersByTimeAsync(999);
		expect(made.filter((m) => m.kind === 'ws')).toHaveLength(1);
		await vi.advanceTimersByTimeAsync(1);
		const probe1 = t.ws();
		expect(probe1.connected).toBe(true);
		probe1.refuse();
		expect(probe1.closed).toBe(true);
		expect(t.selector.kind).toBe('sse');

		// Second probe after 2 s: silent, given up after the ready timeout.
		await vi.advanceTimersByTimeAsync(2000);
		const probe2 = t.ws();
		expect(probe2).not.toBe(probe1);
		await vi.advanceTimersByTimeAsync(READY_TIMEOUT_MS);
		expect(probe2.closed).toBe(true);
		expect(t.selector.kind).toBe('sse');

		// Third after 4 s: works. A `reset` before `ready` is passed on first.
		await vi.advanceTimersByTimeAsync(4000);
		const probe3 = t.ws();
		expect(probe3).not.toBe(probe2);
		const before = t.frames.length;
		const states = t.states.length;
		probe3.frame({ type: 'reset', cursor: '9' });
		expect(t.frames.length).toBe(before);
		probe3.ready('9');
		expect(t.frames.slice(before).map((f) => f.type)).toEqual(['reset', 'ready']);
		expect(t.selector.kind).toBe('ws');
		expect(t.sse().closed).toBe(true);
		// Live all along: the outbox is not told the connection dropped.
		expect(t.states.slice(states)).toEqual([]);
		expect(storage.getItem(WS_FAILED_KEY)).toBeNull();

		// The retired SSE stream no longer speaks, except for the answers to its POSTs.
		t.sse().frame(message('10'));
		t.sse().frame({ type: 'ack', id: 'm1', conversationId: 'c', seq: 1, createdAt: '' });
		probe3.frame(message('10'));
		expect(t.frames.slice(before + 2).map((f) => f.type)).toEqual(['ack', 'message']);
		expect(probe3.closed).toBe(false);
	});

	it('a WebSocket that later fails falls back again', async () => {
		const t = started();
		t.ws().refuse();
		t.sse().ready();
		await vi.advanceTimersByTimeAsync(1000);
		t.ws().ready();
		expect(t.selector.kind).toBe('ws');
		t.ws().refuse();
		expect(t.selector.kind).toBe('sse');
	});

	it('sends through the active carrier only', () => {
		const t = started();
		t.ws().ready();
		expect(t.selector.send({ type: 'typing', conversationId: 'c' })).toBe(true);
		expect(t.ws().sent).toHaveLength(1);
	});

	it('`?transport=sse` forces SSE with no probing, and is kept for the tab', async () => {
		const t = started('?transport=sse');
		expect(t.selector.kind).toBe('sse');
		t.sse().ready();
		await vi.advanceTimersByTimeAsync(120_000);
		expect(made.map((m) => m.kind)).toEqual(['sse']);
		expect(session.getItem(FORCE_KEY)).toBe('sse');
		expect(started('').selector.kind).toBe('sse');
		expect(started('?transport=auto').selector.kind).toBe('ws');
	});

	it('`?transport=ws` (or the localStorage setting) never falls back', async () => {
		storage.setItem(FORCE_KEY, 'ws');
		const t = started();
		await vi.advanceTimersByTimeAsync(READY_TIMEOUT_MS * 2);
		t.ws().refuse();
		expect(t.selector.kind).toBe('ws');
		expect(made.map((m) => m.kind)).toEqual(['ws']);
	});

	it('close stops the carrier and any probe', async () => {
		const t = started();
		t.ws().refuse();
		await vi.advanceTimersByTimeAsync(1000);
		const probe = t.ws();
		t.selector.close();
		expect(probe.closed).toBe(true);
		expect(t.sse().closed).toBe(true);
		expect(t.selector.state).toBe('closed');
		await vi.advanceTimersByTimeAsync(120_000);
		expect(made).toHaveLength(3);
	});
});
