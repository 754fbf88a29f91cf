/**
 * Server-Sent Events: the same per-user event stream as /ws, written as text/event-stream for
 * networks whose proxies refuse WebSocket upgrades. Durable events carry `id:` so EventSource's
 * automatic reconnect resumes from Last-Event-ID; comments keep idle proxies from cutting it.
 */
import type { Duplex } from 'node:stream';
import type { CloseCode } from '$lib/protocol';
import type { PushEvent, User } from '$lib/types';
import { OUTGOING_LIMIT_BYTES, Outgoing } from './outgoing';
import type { Streams, StreamTransport } from './chat/streams';
import { log } from './log';

/** Some buffering proxies hold the first few KiB of a response; a padding comment flushes them. */
const PADDING = `:${' '.repeat(2048)}\n\n`;
const RETRY_MS = 2000;

export function formatEvent(event: PushEvent): string {
	const data = `data: ${JSON.stringify(event)}\n\n`;
	const id = 'cursor' in event ? `id: ${event.cursor}\n` : '';
	return `${id}event: ${event.type}\n${data}`;
}

export const SSE_HEADERS = {
	'content-type': 'text/event-stream; charset=utf-8',
	'cache-control': 'no-cache, no-transform',
	'x-accel-buffering': 'no',
	connection: 'keep-alive'
};

/** Where an event stream's text goes: a web ReadableStream (SvelteKit) or a node response. */
export interface SseOutput {
	write(text: string): void;
	/** Bytes written but not yet taken by the client. */
	queued(): number;
	/** Calls `listener` whenever the client has taken queued text (at the latest once none is left). */
	onTaken(listener: () => void): void;
	/** Ends the response once what is queued has gone out. */
	end(): void;
	/** Drops the connection now, with whatever is queued: for a client that does not read. */
	destroy(): void;
}

/** What an event stream needs of the services. */
export interface SseDeps {
	streams: Streams;
	config: { sseKeepaliveMs: number };
}

/**
 * A node response (or any writable shaped like one) as an SseOutput. `head` runs before the first
 * write: the fast path sends its headers there, so a stream that fails to open can still answer
 * with an error status.
 */
export function nodeOutput(
	res: {
		write(text: string): unknown;
		readonly writableLength: number;
		end(): unknown;
		destroy(): unknown;
		on(event: 'drain', listener: () => void): unknown;
	},
	head: () => void = () => {}
): SseOutput {
	return {
		write: (text) => {
			head();
			res.write(text);
		},
		// The response's own buffer and its socket's: everything not yet handed to the kernel.
		queued: () => res.writableLength,
		// Past the drained mark the buffer is past its high-water mark, so 'drain' comes once it empties.
		onTaken: (listener) => void res.on('drain', listener),
		end: () => void res.end(),
		destroy: () => void res.destroy()
	};
}

/**
 * The SvelteKit route's stream. Its queue is what `queued` counts; SvelteKit's copy into the node
 * response holds at most the response's own high-water mark on top. `socket` (adapter-node's
 * platform.req.socket, absent in dev) lets a client that does not read be cut: SvelteKit waits
 * for that response to drain and would otherwise never notice the stream failed.
 */
export async function openEventStream(
	deps: SseDeps,
	user: User,
	sessionId: string,
	cursor: string | undefined,
	socket?: Duplex
): Promise<Response> {
	const encoder = new TextEncoder();
	let controller!: ReadableStreamDefaultController<Uint8Array>;
	let finish = () => {};
	let taken = () => {};
	const body = new ReadableStream<Uint8Array>(
		{
			start(c) {
				controller = c;
			},
			// Called after each chunk SvelteKit reads while the queue is below its (1 MiB) mark.
			pull() {
				taken();
			},
			cancel() {
				finish();
			}
		},
		{ highWaterMark: OUTGOING_LIMIT_BYTES, size: (chunk) => chunk?.byteLength ?? 0 }
	);
	finish = await attachEventStream(deps, user, sessionId, cursor, {
		write: (text) => controller.enqueue(encoder.encode(text)),
		queued: () => OUTGOING_LIMIT_BYTES - (controller.desiredSize ?? 0),
		onTaken: (listener) => (taken = listener),
		end: () => controller.close(),
		destroy: () => {
			controller.error(new Error('event stream reader too slow'));
			socket?.destroy();
		}
	});
	return new Response(body, { headers: SSE_HEADERS });
}

/**
 * One event stream's connection: everything written (padding, keepalives, events, goodbyes)
 * passes one limit on what is queued (outgoing.ts): a client that stops reading is cut there, and
 * resumes with Last-Event-ID.
 */
export class SseTransport implements StreamTransport {
	readonly name = 'SSE';
	private finished = false;
	private keepingAlive = false;
	private readonly outgoing: Outgoing;
	private readonly closeListeners: Array<() => void> = [];
	/** Made by the first wait for a drain: most streams never wait, and an idle server holds thousands. */
	private waiting?: Set<() => void>;

	constructor(
		private readonly out: SseOutput,
		user: User,
		private readonly keepaliveMs: number
	) {
		this.outgoing = new Outgoing(
			() => out.queued(),
			(bytes) => {
				log.warn(
					{ user: user.id, bytes, limit: this.outgoing.limit },
					`Cutting the event stream of user ${user.id}: ${bytes} bytes unsent would pass the ${this.outgoing.limit}-byte limit`
				);
				this.finish();
				// No goodbye: it would wait behind everything the client is not reading.
				out.destroy();
			}
		);
		out.onTaken(() => this.wake());
	}

	opened(): void {
		if (this.finished) return;
		this.write(`${PADDING}retry: ${RETRY_MS}\n\n`);
		keepAlive(this, this.keepaliveMs);
		this.keepingAlive = true;
	}

	/** Called by the shared keepalive interval. */
	keepalive(): void {
		this.write(': keepalive\n\n');
	}

	send(event: PushEvent): void {
		this.write(formatEvent(event));
	}

	backlogged(): boolean {
		return this.outgoing.backlogged();
	}

	drained(): Promise<void> {
		return new Promise((resolve) => {
			const check = () => {
				if (!this.finished && !this.outgoing.drained()) return;
				this.waiting?.delete(check);
				resolve();
			};
			(this.waiting ??= new Set()).add(check);
			check();
		});
	}

	close(code: CloseCode, reason: string): void {
		this.write(`event: close\ndata: ${JSON.stringify({ code, reason })}\n\n`);
		this.finish();
	}

	/** EventSource reconnects by itself when the response ends. */
	goAway(): void {
		this.finish();
	}

	onClose(listener: () => void): void {
		if (this.finished) listener();
		else this.closeListeners.push(listener);
	}

	/** Lets go of everything the stream holds but `out`; false when that was done already. */
	release(): boolean {
		if (this.finished) return false;
		this.finished = true;
		if (this.keepingAlive) stopKeepingAlive(this, this.keepaliveMs);
		this.wake();
		for (const listener of this.closeListeners.splice(0)) listener();
		return true;
	}

	/** Lets go of everything and ends `out`: the client went away, or the stream is done with it. */
	finish(): void {
		if (!this.release()) return;
		try {
			this.out.end();
		} catch {
			/* already closed by the reader */
		}
	}

	private write(text: string): void {
		if (this.finished || !this.outgoing.admit(Buffer.byteLength(text))) return;
		try {
			this.out.write(text);
		} catch {
			this.finish();
		}
	}

	private wake(): void {
		if (this.waiting) for (const check of [...this.waiting]) check();
	}
}

/**
 * One interval per keepalive period writes the comment to every open stream, instead of a timer
 * per stream: a stream waits at most the period for its first, as with a timer of its own.
 */
const keepalives = new Map<number, { timer: ReturnType<typeof setInterval>; streams: Set<SseTransport> }>();

function keepAlive(transport: SseTransport, ms: number) {
	let entry = keepalives.get(ms);
	if (!entry) {
		const streams = new Set<SseTransport>();
		const timer = setInterval(() => {
			for (const stream of streams) stream.keepalive();
		}, ms);
		keepalives.set(ms, (entry = { timer, streams }));
	}
	entry.streams.add(transport);
}

function stopKeepingAlive(transport: SseTransport, ms: number) {
	const entry = keepalives.get(ms);
	if (!entry?.streams.delete(transport) || entry.streams.size > 0) return;
	clearInterval(entry.timer);
	keepalives.delete(ms);
}

/**
 * Runs the user's event stream into `out` until the client goes away (call the returned function
 * then) or the stream ends it. Resolves before replay is done, so headers go out at once.
 * Rejects when the stream could not open (the connection limit, the database down), having let
 * go of all it held but `out`: the caller answers with an error, or ends `out` when its headers
 * are gone.
 */
export async function attachEventStream(
	deps: SseDeps,
	user: User,
	sessionId: string,
	cursor: string | undefined,
	out: SseOutput
): Promise<() => void> {
	const transport = new SseTransport(out, user, deps.config.sseKeepaliveMs);
	try {
		await deps.streams.open(user, sessionId, cursor, transport);
	} catch (error) {
		transport.release();
		throw error;
	}
	return () => transport.finish();
}
