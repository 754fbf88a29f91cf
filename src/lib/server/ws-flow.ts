/**
 * Input flow control for one WebSocket: when the server stops reading a client's frames, and
 * when it reads again. Reading follows what the client takes (outgoing.ts) and how much of its
 * work is still pending, so no client can make the server compute or buffer without bound.
 */
import type { EventEmitter } from 'node:events';
import type { Outgoing } from './outgoing';

/** Frames of one socket being handled at once (sends waiting for their commit, mostly). */
export const MAX_FRAMES_IN_FLIGHT = 256;

/** The part of a `ws` WebSocket that flow control uses. */
export interface Readable {
	readonly isPaused: boolean;
	readonly readyState: number;
	readonly OPEN: number;
	pause(): void;
	resume(): void;
}

/**
 * Reads a client's frames only while it takes its answers and has few frames still being handled:
 * a flood of pings stops once its pongs pile up, a flood of sends once MAX_FRAMES_IN_FLIGHT wait
 * for their commits. TCP then slows the client's own sending. A client that never reads again
 * stays paused until the heartbeat finds it silent and terminates it; one closed for passing the
 * limit is never read again.
 */
export class ReadControl {
	private inFlight = 0;
	private draining = false;

	// A class rather than closures: one object per socket instead of five functions and their scope.
	constructor(
		private readonly ws: Readable,
		private readonly outgoing: Outgoing,
		private readonly drained: () => Promise<void>,
		private readonly maxInFlight = MAX_FRAMES_IN_FLIGHT
	) {}

	/** A frame was read and is being handled. */
	started(): void {
		this.inFlight++;
		if (this.inFlight >= this.maxInFlight) this.update();
	}

	/** A frame's handling ended, answered or not. */
	settled(): void {
		this.inFlight--;
		if (this.ws.isPaused) this.update();
	}

	/** Something was written: past the backlog mark, reading waits until the socket drains. */
	wrote(): void {
		if (this.draining || !this.outgoing.backlogged()) return;
		this.draining = true;
		this.update();
		void this.drained().then(() => {
			this.draining = false;
			this.update();
		});
	}

	private update() {
		const { ws } = this;
		if (this.draining || this.inFlight >= this.maxInFlight || this.outgoing.closed) ws.pause();
		else if (ws.isPaused && ws.readyState === ws.OPEN) ws.resume();
	}
}

/**
 * Resolves once the socket's unsent data is below the drained mark, or it is no longer open.
 * `socket` is the WebSocket's own TCP socket: past the drained mark its buffer is past its
 * high-water mark, so it emits 'drain' once everything has gone to the kernel.
 */
export function whenDrained(ws: Readable & EventEmitter, socket: EventEmitter | undefined, outgoing: Outgoing): Promise<void> {
	return new Promise((resolve) => {
		const check = () => {
			if (ws.readyState === ws.OPEN && !outgoing.drained()) return;
			socket?.off('drain', check);
			ws.off('close', check);
			resolve();
		};
		socket?.on('drain', check);
		ws.on('close', check);
		check();
	});
}
