import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { CLOSE } from '$lib/protocol';
import type { PushEvent } from '$lib/types';
import { OUTGOING_LIMIT_BYTES } from './outgoing';
import { formatEvent, nodeOutput, SseTransport, type SseOutput } from './sse';
import { log } from './log';

const user = { id: 'u1', username: 'alice' };
const ready: PushEvent = { type: 'ready', cursor: '7', user };
const typing: PushEvent = { type: 'typing', conversationId: 'c1', userId: 'u2' } as PushEvent;
/** An event of about `bytes` bytes once formatted. */
const big = (bytes: number, cursor = '8') => ({ type: 'reset', cursor, padding: 'x'.repeat(bytes) }) as unknown as PushEvent;

/** A node response stand-in: a PassThrough that nobody reads until the test does. */
function setup(keepaliveMs = 15_000) {
	const res = new PassThrough();
	const writes: string[] = [];
	const base = nodeOutput(res);
	const out: SseOutput = { ...base, write: (text) => (writes.push(text), base.write(text)) };
	const transport = new SseTransport(out, user, keepaliveMs);
	/** Everything written, read to the end of the response. */
	const text = async () => {
		let all = '';
		for await (const chunk of res) all += chunk;
		return all;
	};
	return { res, writes, transport, text };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

afterEach(() => {
	vi.useRealTimers();
	vi.restoreAllMocks();
});

describe('formatEvent', () => {
	test('durable events carry their cursor as the id; ephemeral ones have none', () => {
		expect(formatEvent(ready)).toBe(`id: 7\nevent: ready\ndata: ${JSON.stringify(ready)}\n\n`);
		expect(formatEvent(typing)).toBe(`event: typing\ndata: ${JSON.stringify(typing)}\n\n`);
	});
});

describe('nodeOutput', () => {
	test('runs its head before every write, so the fast path can send headers first', () => {
		const order: string[] = [];
		const out = nodeOutput(
			{ write: (text: string) => order.push(`write ${text}`), writableLength: 0, end() {}, destroy() {}, on() {} },
			() => order.push('head')
		);
		out.write('a');
		expect(order).toEqual(['head', 'write a']);
	});
});

describe('SseTransport', () => {
	test('opens with the padding comment and retry, writes events, and ends with a close event', async () => {
		const { transport, text } = setup();
		const closed = vi.fn();
		transport.onClose(closed);
		transport.opened();
		transport.send(ready);
		transport.send(typing);
		transport.close(CLOSE.sessionEnded, 'session ended');
		expect(closed).toHaveBeenCalledTimes(1);
		expect(await text()).toBe(
			`:${' '.repeat(2048)}\n\nretry: 2000\n\n` +
				formatEvent(ready) +
				formatEvent(typing) +
				`event: close\ndata: {"code":4001,"reason":"session ended"}\n\n`
		);
		transport.send(ready);
		transport.finish();
		expect(closed).toHaveBeenCalledTimes(1);
	});

	test('shutdown ends the response without a close event (EventSource reconnects by itself)', async () => {
		const { transport, text } = setup();
		transport.send(ready);
		transport.goAway();
		expect(await text()).toBe(formatEvent(ready));
	});

	test('writes a keepalive comment every interval once opened, and stops when finished', async () => {
		vi.useFakeTimers();
		const { transport, writes } = setup(1000);
		transport.opened();
		vi.advanceTimersByTime(2500);
		expect(writes.slice(1)).toEqual([': keepalive\n\n', ': keepalive\n\n']);
		transport.finish();
		vi.advanceTimersByTime(5000);
		expect(writes.length).toBe(3);
	});

	test('a client that does not read is cut at the limit, without a close event', () => {
		vi.spyOn(log, 'warn').mockImplementation(() => {});
		const { res, writes, transport } = setup();
		const closed = vi.fn();
		transport.onClose(closed);
		const chunk = 100_000;
		for (let i = 0; i < 12; i++) transport.send(big(chunk, String(i)));
		expect(res.destroyed).toBe(true);
		expect(closed).toHaveBeenCalledTimes(1);
		const admitted = writes.reduce((sum, text) => sum + Buffer.byteLength(text), 0);
		expect(admitted).toBeLessThanOrEqual(OUTGOING_LIMIT_BYTES);
		expect(writes.length).toBe(Math.floor(OUTGOING_LIMIT_BYTES / Buffer.byteLength(formatEvent(big(chunk, '1')))));
		transport.close(CLOSE.serverError, 'late');
		expect(writes.some((text) => text.startsWith('event: close'))).toBe(false);
	});

	test("drained() waits for the response's 'drain' once the client reads, instead of polling", async () => {
		const { res, transport } = setup();
		for (let i = 0; i < 6; i++) transport.send(big(100_000, String(i)));
		expect(transport.backlogged()).toBe(true);
		let done = false;
		const waiting = transport.drained().then(() => (done = true));
		await turn();
		expect(done).toBe(false);
		res.resume();
		await waiting;
		expect(transport.backlogged()).toBe(false);
	});

	test('drained() resolves once the stream is finished, even if nothing was read', async () => {
		const { transport } = setup();
		for (let i = 0; i < 6; i++) transport.send(big(100_000, String(i)));
		const waiting = transport.drained();
		transport.finish();
		await waiting;
	});

	test('release lets go without ending the output, so the caller can still answer with an error', () => {
		vi.useFakeTimers();
		const { res, writes, transport } = setup(1000);
		transport.opened();
		expect(transport.release()).toBe(true);
		expect(transport.release()).toBe(false);
		vi.advanceTimersByTime(3000);
		expect(writes.length).toBe(1);
		expect(res.writableEnded).toBe(false);
	});
});
