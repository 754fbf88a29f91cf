import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { CLOSE } from '$lib/protocol';
import type { PushEvent } from '$lib/types';
import { OUTGOING_LIMIT_BYTES } from './outgoing';
import { FakeWs } from './test-ws';
import { SHUTDOWN_GRACE_MS, SLOW_CLOSE_GRACE_MS, WebSocketTransport } from './ws';
import { log } from './log';

/** The TCP socket under it: only cork/uncork and 'drain' are used. */
class FakeRaw extends EventEmitter {
	corks = 0;
	uncorks = 0;
	cork() {
		this.corks++;
	}
	uncork() {
		this.uncorks++;
	}
}

const user = { id: 'u1', username: 'alice' };
const ready: PushEvent = { type: 'ready', cursor: '7', user };

function setup() {
	const ws = new FakeWs();
	const raw = new FakeRaw();
	const transport = new WebSocketTransport(ws, user, raw as unknown as Duplex);
	return { ws, raw, transport };
}

afterEach(() => {
	vi.useRealTimers();
	vi.restoreAllMocks();
});

describe('WebSocketTransport', () => {
	test('writes each event and frame as one JSON text frame, corking the socket until the next turn', async () => {
		const { ws, raw, transport } = setup();
		transport.send(ready);
		transport.write({ type: 'pong' });
		expect(ws.sent).toEqual([JSON.stringify(ready), '{"type":"pong"}']);
		expect(raw.corks).toBe(1);
		await new Promise((resolve) => setImmediate(resolve));
		expect(raw.uncorks).toBe(1);
	});

	test('writes nothing to a socket that is closing', () => {
		const { ws, transport } = setup();
		transport.close(CLOSE.sessionEnded, 'session ended');
		transport.send(ready);
		expect(ws.sent).toEqual([]);
		expect(ws.closes).toEqual([{ code: 4001, reason: 'session ended' }]);
	});

	test('a frame that would pass the limit closes the socket 1013 instead, stops reading it, and cuts it after the grace', () => {
		vi.useFakeTimers();
		vi.spyOn(log, 'warn').mockImplementation(() => {});
		const { ws, transport } = setup();
		ws.bufferedAmount = OUTGOING_LIMIT_BYTES - 10;
		transport.send(ready);
		transport.write({ type: 'pong' });
		expect(ws.sent).toEqual([]);
		expect(ws.closes).toEqual([{ code: CLOSE.tryAgainLater, reason: 'too slow; resume from your cursor' }]);
		expect(ws.isPaused).toBe(true);
		// From now on the stream holds off (replay waits, ephemeral events are dropped).
		expect(transport.backlogged()).toBe(true);
		vi.advanceTimersByTime(SLOW_CLOSE_GRACE_MS - 1);
		expect(ws.terminated).toBe(0);
		vi.advanceTimersByTime(1);
		expect(ws.terminated).toBe(1);
	});

	test('a cut socket that takes its close frame in time is not terminated', () => {
		vi.useFakeTimers();
		vi.spyOn(log, 'warn').mockImplementation(() => {});
		const { ws, transport } = setup();
		ws.bufferedAmount = OUTGOING_LIMIT_BYTES;
		transport.send(ready);
		ws.closed();
		vi.advanceTimersByTime(SLOW_CLOSE_GRACE_MS);
		expect(ws.terminated).toBe(0);
	});

	test('once cut, drained() waits for the close rather than letting replay read on', async () => {
		vi.spyOn(log, 'warn').mockImplementation(() => {});
		const { ws, transport } = setup();
		ws.bufferedAmount = OUTGOING_LIMIT_BYTES;
		transport.send(ready);
		ws.bufferedAmount = 0;
		let done = false;
		const waiting = transport.drained().then(() => (done = true));
		await new Promise((resolve) => setImmediate(resolve));
		expect(done).toBe(false);
		ws.closed();
		await waiting;
		expect(done).toBe(true);
	});

	test("drained() resolves on the TCP socket's 'drain' once below the drained mark", async () => {
		const { ws, raw, transport } = setup();
		ws.bufferedAmount = OUTGOING_LIMIT_BYTES / 2;
		expect(transport.backlogged()).toBe(true);
		let done = false;
		const waiting = transport.drained().then(() => (done = true));
		raw.emit('drain');
		await new Promise((resolve) => setImmediate(resolve));
		expect(done).toBe(false);
		ws.bufferedAmount = 0;
		raw.emit('drain');
		await waiting;
		expect(transport.backlogged()).toBe(false);
	});

	test('goAway closes with 1001 and ends the socket once it answers', async () => {
		const { ws, transport } = setup();
		const going = transport.goAway();
		expect(ws.closes).toEqual([{ code: CLOSE.goingAway, reason: 'server shutting down' }]);
		ws.closed();
		await going;
		expect(ws.readyState).toBe(ws.CLOSED);
		expect(ws.terminated).toBe(1);
	});

	test('goAway terminates a socket that does not answer within the grace', async () => {
		vi.useFakeTimers();
		const { ws, transport } = setup();
		let done = false;
		const going = transport.goAway().then(() => (done = true));
		await vi.advanceTimersByTimeAsync(SHUTDOWN_GRACE_MS - 1);
		expect(done).toBe(false);
		await vi.advanceTimersByTimeAsync(1);
		await going;
		expect(ws.terminated).toBe(1);
		expect(ws.readyState).toBe(ws.CLOSED);
	});

	test("onClose calls its listener once on 'close', and at once for a socket already closed", () => {
		const { ws, transport } = setup();
		const listener = vi.fn();
		transport.onClose(listener);
		ws.closed();
		ws.emit('close');
		expect(listener).toHaveBeenCalledTimes(1);
		const late = vi.fn();
		transport.onClose(late);
		expect(late).toHaveBeenCalledTimes(1);
	});
});
