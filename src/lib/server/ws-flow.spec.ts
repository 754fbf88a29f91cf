import { EventEmitter } from 'node:events';
import { describe, expect, test } from 'vitest';
import { Outgoing } from './outgoing';
import { ReadControl, whenDrained } from './ws-flow';

class FakeSocket extends EventEmitter {
	readonly OPEN = 1;
	readyState = 1;
	isPaused = false;
	pauses = 0;
	pause() {
		this.isPaused = true;
		this.pauses++;
	}
	resume() {
		this.isPaused = false;
	}
}

function setup(maxInFlight = 3) {
	const ws = new FakeSocket();
	let queued = 0;
	const outgoing = new Outgoing(
		() => queued,
		() => {},
		1000
	);
	let release!: () => void;
	const drained = () => new Promise<void>((resolve) => (release = resolve));
	const reading = new ReadControl(ws, outgoing, drained, maxInFlight);
	return { ws, outgoing, reading, setQueued: (bytes: number) => (queued = bytes), release: () => release() };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('ReadControl', () => {
	test('stops reading at the in-flight cap and reads again as soon as one frame settles', () => {
		const { ws, reading } = setup();
		reading.started();
		reading.started();
		expect(ws.isPaused).toBe(false);
		reading.started();
		expect(ws.isPaused).toBe(true);
		reading.settled();
		expect(ws.isPaused).toBe(false);
	});

	test('stops reading while the answers are backlogged, and reads again once drained', async () => {
		const { ws, reading, setQueued, release } = setup();
		setQueued(499);
		reading.wrote();
		expect(ws.isPaused).toBe(false);
		setQueued(500);
		reading.wrote();
		expect(ws.isPaused).toBe(true);
		// Frames settling meanwhile do not resume reading while the backlog stands.
		reading.started();
		reading.settled();
		expect(ws.isPaused).toBe(true);
		setQueued(0);
		release();
		await turn();
		expect(ws.isPaused).toBe(false);
	});

	test('both reasons must clear: drained with the cap still reached stays paused', async () => {
		const { ws, reading, setQueued, release } = setup();
		for (let i = 0; i < 3; i++) reading.started();
		setQueued(600);
		reading.wrote();
		setQueued(0);
		release();
		await turn();
		expect(ws.isPaused).toBe(true);
		reading.settled();
		expect(ws.isPaused).toBe(false);
	});

	test('a connection closed for passing the limit is never read again', async () => {
		const { ws, outgoing, reading, setQueued, release } = setup();
		setQueued(600);
		reading.wrote();
		setQueued(2000);
		expect(outgoing.admit(1)).toBe(false);
		setQueued(0);
		release();
		await turn();
		expect(ws.isPaused).toBe(true);
	});

	test('a socket that is no longer open is not resumed', () => {
		const { ws, reading } = setup(1);
		reading.started();
		ws.readyState = 2;
		reading.settled();
		expect(ws.isPaused).toBe(true);
	});
});

describe('whenDrained', () => {
	test('resolves at once when already below the drained mark', async () => {
		const ws = new FakeSocket();
		await whenDrained(
			ws,
			new EventEmitter(),
			new Outgoing(
				() => 249,
				() => {},
				1000
			)
		);
	});

	test("waits for the socket's drain, and ignores one that leaves too much queued", async () => {
		const ws = new FakeSocket();
		const socket = new EventEmitter();
		let queued = 800;
		let done = false;
		const waiting = whenDrained(
			ws,
			socket,
			new Outgoing(
				() => queued,
				() => {},
				1000
			)
		).then(() => (done = true));
		socket.emit('drain');
		await turn();
		expect(done).toBe(false);
		queued = 0;
		socket.emit('drain');
		await waiting;
		expect(socket.listenerCount('drain')).toBe(0);
		expect(ws.listenerCount('close')).toBe(0);
	});

	test('resolves when the WebSocket closes', async () => {
		const ws = new FakeSocket();
		const waiting = whenDrained(
			ws,
			new EventEmitter(),
			new Outgoing(
				() => 800,
				() => {},
				1000
			)
		);
		ws.readyState = 3;
		ws.emit('close');
		await waiting;
	});
});
