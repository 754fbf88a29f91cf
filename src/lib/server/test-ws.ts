/** Spec helpers for the WebSocket transport (not part of the app). */
import { EventEmitter } from 'node:events';
import type { PushEvent } from '$lib/types';
import type { SocketLike } from './ws';

/**
 * Just enough of a `ws` WebSocket: what was sent and closed, and a `bufferedAmount` the test sets.
 * With `answersClose`, a close is answered at once, as a peer that reads does.
 */
export class FakeWs extends EventEmitter implements SocketLike {
	readonly CONNECTING = 0;
	readonly OPEN = 1;
	readonly CLOSING = 2;
	readonly CLOSED = 3;
	readyState = 1;
	isPaused = false;
	bufferedAmount = 0;
	readonly sent: string[] = [];
	readonly closes: { code?: number; reason?: string }[] = [];
	terminated = 0;

	constructor(private readonly answersClose = false) {
		super();
	}

	/** What was sent, parsed. */
	get frames(): PushEvent[] {
		return this.sent.map((text) => JSON.parse(text));
	}
	pause() {
		this.isPaused = true;
	}
	resume() {
		this.isPaused = false;
	}
	send(text: string) {
		this.sent.push(text);
	}
	close(code?: number, reason?: string) {
		this.closes.push({ code, reason });
		if (this.readyState === this.OPEN) this.readyState = this.CLOSING;
		if (this.answersClose) queueMicrotask(() => this.closed());
	}
	terminate() {
		this.terminated++;
		this.closed();
	}
	/** The closing handshake is over (or the socket was destroyed): ws emits 'close' once. */
	closed() {
		if (this.readyState === this.CLOSED) return;
		this.readyState = this.CLOSED;
		this.emit('close');
	}
}
