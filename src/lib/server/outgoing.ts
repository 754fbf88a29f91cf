/**
 * Outgoing back-pressure for one push connection (WebSocket or SSE): one limit on the bytes the
 * server holds unsent for a client, whatever it writes (acks, errors, pongs, events, keepalives).
 * Every write is admitted here first; the first one that would pass the limit closes the connection
 * instead, and the client resumes from its cursor. Below the limit, a backlog slows the connection
 * down (the server stops reading its frames, replay waits, disposable events are dropped), so only a
 * client that does not read at all is ever closed.
 */

/** Unsent bytes one connection may hold; past this the client is too slow (close 1013). */
export const OUTGOING_LIMIT_BYTES = 1024 * 1024;

export class Outgoing {
	private overflowed = false;

	constructor(
		/** Bytes written but not yet taken by the kernel (ws.bufferedAmount, a response's writableLength). */
		private readonly queued: () => number,
		/** Called once, with the bytes that would have been queued, when a write is refused. */
		private readonly onOverflow: (bytes: number) => void,
		readonly limit = OUTGOING_LIMIT_BYTES
	) {}

	/** Whether `bytes` more may be written. The first refusal calls onOverflow; every later write is refused. */
	admit(bytes: number): boolean {
		if (this.overflowed) return false;
		const total = this.queued() + bytes;
		if (total <= this.limit) return true;
		this.overflowed = true;
		this.onOverflow(total);
		return false;
	}

	get closed(): boolean {
		return this.overflowed;
	}

	/**
	 * Half the limit: past it a writer that can wait (replay, reading more frames) waits, so a client
	 * that reads slowly is slowed rather than closed, and one frame more can never pass the limit.
	 */
	backlogged(): boolean {
		return this.queued() >= this.limit / 2;
	}

	/** A quarter of the limit: what a waiting writer waits for, so it does not stop and start on every frame. */
	drained(): boolean {
		return this.queued() < this.limit / 4;
	}
}
