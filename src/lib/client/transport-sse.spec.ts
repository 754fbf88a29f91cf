// @vitest-environment node
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AppError } from '$lib/errors';
import { EVENT_TYPES } from '$lib/protocol';
import type { Ack, ServerFrame } from '$lib/types';
import type { ConnectionState } from './transport';
import { SseTransport, type SseTransportOptions } from './transport-sse';

/** Just enough of a browser EventSource, driven by the test. */
class FakeEventSource {
	static CONNECTING = 0;
	static OPEN = 1;
	static CLOSED = 2;
	static all: FakeEventSource[] = [];
	readyState = 0;
	onerror: (() => void) | null = null;
	listeners = new Map<string, ((event: { data: string }) => void)[]>();
	closed = false;
	constructor(readonly url: string) {
		FakeEventSource.all.push(this);
	}
	addEventListener(type: string, listener: (event: { data: string }) => void) {
		this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
	}
	close() {
		this.closed = true;
		this.readyState = 2;
	}
	event(type: string, data: unknown) {
		this.readyState = 1;
		for (const l of this.listeners.get(type) ?? []) l({ data: JSON.stringify(data) });
	}
	frame(frame: ServerFrame) {
		this.event(frame.type, frame);
	}
	fail(readyState: number) {
		this.readyState = readyState;
		this.onerror?.();
	}
}

const windowEvents = new EventTarget();
const nav = { onLine: true };

beforeEach(() => {
	vi.useFakeTimers();
	FakeEventSource.all = [];
	vi.stubGlobal('EventSource', FakeEventSource);
	vi.stubGlobal('navigator', nav);
	vi.stubGlobal('addEventListener', windowEvents.addEventListener.bind(windowEvents));
	vi.stubGlobal('removeEventListener', windowEvents.removeEventListener.bind(windowEvents));
});

afterEach(() => {
	vi.useRealTimers();
	vi.unstubAllGlobals();
});

const READY: ServerFrame = { type: 'ready', cursor: '5', user: { id: 'u', username: 'u_name' } };

async function started(api: SseTransportOptions['api']) {
	const transport = new SseTransport({ api, random: () => 0.5 });
	const frames: ServerFrame[] = [];
	const states: ConnectionState[] = [];
	const events: string[] = [];
	transport.on('frame', (f) => frames.push(f));
	transport.on('state', (s) => states.push(s));
	transport.on('refused', () => events.push('refused'));
	transport.on('ended', () => events.push('ended'));
	let cursor: string | null = null;
	transport.connect(async () => cursor);
	await vi.advanceTimersByTimeAsync(0);
	return { transport, frames, states, events, setCursor: (c: string) => (cursor = c), source: () => FakeEventSource.all.at(-1)! };
}

const noApi = { send: vi.fn(), change: vi.fn(), receipt: vi.fn(), typing: vi.fn(), typingStopped: vi.fn() };

describe('SseTransport', () => {
	it('is live only after `ready` and passes named events on as frames', async () => {
		const t = await started(noApi);
		expect(t.source().url).toBe('/api/events');
		expect(t.transport.send({ type: 'typing', conversationId: 'c' })).toBe(false);
		t.source().frame(READY);
		expect(t.transport.state).toBe('live');
		t.source().frame({ type: 'typing', conversationId: 'c', userId: 'p' });
		expect(t.frames.map((f) => f.type)).toEqual(['ready', 'typing']);
		t.transport.close();
	});

	it('listens for every push event type of the protocol, and only those plus the goodbye', async () => {
		const t = await started(noApi);
		expect([...t.source().listeners.keys()].sort()).toEqual([...EVENT_TYPES, 'close'].sort());
		t.source().frame(READY);
		for (const type of EVENT_TYPES) if (type !== 'ready') t.source().event(type, { type });
		expect(t.frames.map((f) => f.type)).toEqual(['ready', ...EVENT_TYPES.filter((type) => type !== 'ready')]);
		t.transport.close();
	});

	it('turns a change frame into its HTTP call, and the answer into a changed or error frame', async () => {
		const message = { id: 'm', body: 'fixed' };
		const change = vi
			.fn()
			.mockResolvedValueOnce({ message })
			.mockRejectedValueOnce(new AppError('forbidden', 'Only the sender can edit a message.'));
		const t = await started({ ...noApi, change });
		t.source().frame(READY);
		const edit = { op: 'edit' as const, messageId: 'm', body: 'fixed' };
		expect(t.transport.send({ type: 'change', id: 'c1', change: edit })).toBe(true);
		t.transport.send({ type: 'change', id: 'c2', change: edit });
		await vi.advanceTimersByTimeAsync(0);
		expect(change).toHaveBeenCalledWith(edit);
		expect(t.frames.slice(-2)).toEqual([
			{ type: 'changed', id: 'c1', message },
			{ type: 'error', code: 'forbidden', message: 'Only the sender can edit a message.', id: 'c2', retryAfter: undefined }
		]);
		t.transport.close();
	});

	it('sends typing only once the send before it is answered, so it never overtakes that message', async () => {
		let answer: (ack: Ack) => void = () => {};
		const send = vi.fn(() => new Promise<Ack>((resolve) => (answer = resolve)));
		const typing = vi.fn(async () => {});
		const typingStopped = vi.fn(async () => {});
		const t = await started({ ...noApi, send, typing, typingStopped });
		t.source().frame(READY);
		t.transport.send({ type: 'send', id: 'a', conversationId: 'c', clientId: 'x', clientSeq: 1, body: 'ok', replyTo: null });
		t.transport.send({ type: 'typing', conversationId: 'c' });
		t.transport.send({ type: 'typing_stopped', conversationId: 'c' });
		await vi.advanceTimersByTimeAsync(0);
		expect(typing).not.toHaveBeenCalled();
		expect(typingStopped).not.toHaveBeenCalled();
		answer({ id: 'a', conversationId: 'c', seq: 1, createdAt: 't' });
		await vi.advanceTimersByTimeAsync(0);
		expect(typing).toHaveBeenCalledWith('c');
		expect(typingStopped).toHaveBeenCalledWith('c');
		t.transport.close();
	});

	it('turns POST answers into ack and error frames, as the WebSocket would send them', async () => {
		const send = vi
			.fn()
			.mockResolvedValueOnce({ id: 'a', conversationId: 'c', seq: 1, createdAt: 't' })
			.mockRejectedValueOnce(new AppError('rate_limited', 'Slow down.', { retryAfter: 3 }))
			.mockRejectedValueOnce(new TypeError('network'));
		const t = await started({ ...noApi, send });
		t.source().frame(READY);
		const frame = { type: 'send' as const, conversationId: 'c', clientId: 'x', clientSeq: 1, body: 'hi', replyTo: null };
		expect(t.transport.send({ ...frame, id: 'a' })).toBe(true);
		t.transport.send({ ...frame, id: 'b' });
		t.transport.send({ ...frame, id: 'd' });
		await vi.advanceTimersByTimeAsync(0);
		expect(send).toHaveBeenCalledWith({ id: 'a', conversationId: 'c', clientId: 'x', clientSeq: 1, body: 'hi', replyTo: null });
		expect(t.frames.slice(1)).toEqual([
			{ type: 'ack', id: 'a', conversationId: 'c', seq: 1, createdAt: 't' },
			{ type: 'error', code: 'rate_limited', message: 'Slow down.', id: 'b', retryAfter: 3 },
			{ type: 'error', code: 'unavailable', message: 'The server cannot be reached.', id: 'd', retryAfter: undefined }
		]);
		t.transport.close();
	});

	it('a refused stream is reopened with backoff from the current cursor; a browser retry just waits', async () => {
		const t = await started(noApi);
		t.source().fail(FakeEventSource.CLOSED);
		expect(t.events).toEqual(['refused']);
		expect(t.transport.state).toBe('waiting');
		t.setCursor('42');
		await vi.advanceTimersByTimeAsync(500);
		expect(t.source().url).toBe('/api/events?cursor=42');
		t.source().frame(READY);
		t.source().fail(FakeEventSource.CONNECTING);
		expect(t.transport.state).toBe('waiting');
		expect(FakeEventSource.all).toHaveLength(2);
		t.source().frame(READY);
		expect(t.transport.state).toBe('live');
		t.transport.close();
	});

	it('`event: close` with 4001 ends the session; other codes leave the reconnect to the browser', async () => {
		const t = await started(noApi);
		t.source().frame(READY);
		t.source().event('close', { code: 1001, reason: 'shutdown' });
		expect(t.events).toEqual([]);
		t.source().event('close', { code: 4001, reason: 'signed out' });
		expect(t.events).toEqual(['ended']);
		expect(t.source().closed).toBe(true);
		t.transport.close();
	});
});
