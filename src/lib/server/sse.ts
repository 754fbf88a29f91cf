/**
 * Server-Sent Events: the same per-user event stream as /ws, written as text/event-stream for
 * networks whose proxies refuse WebSocket upgrades. Durable events carry `id:` so EventSource's
 * automatic reconnect resumes from Last-Event-ID; comments keep idle proxies from cutting it.
 */
import type { Duplex } from 'node:stream';
import { CLOSE } from '$lib/protocol';
import type { PushEvent, User } from '$lib/types';
import { logIfUnexpected } from './guard';
import { OUTGOING_LIMIT_BYTES, Outgoing } from './outgoing';
import type { Services } from './services';
import { EventStream, type StreamSink } from './chat/stream';

/** Some buffering proxies hold the first few KiB of a response; a padding comment flushes them. */
const PADDING = `:${' '.repeat(2048)}\n\n`;
const RETRY_MS = 2000;

const open = new Set<() => void>();
let shutdownRegistered = false;

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
	/** Ends the response once what is queued has gone out. */
	end(): void;
	/** Drops the connection now, with whatever is queued: for a client that does not read. */
	destroy(): void;
}

/**
 * The SvelteKit route's stream. Its queue is what `queued` counts; SvelteKit's copy into the node
 * response holds at most the response's own high-water mark on top. `socket` (adapter-node's
 * platform.req.socket, absent in dev) lets a client that does not read be cut: SvelteKit waits
 * for that response to drain and would otherwise never notice the stream failed.
 */
export async function openEventStream(
	app: Services,
	user: User,
	sessionId: string,
	cursor: string | undefined,
	socket?: Duplex
): Promise<Response> {
	app.chat.checkConnectionLimit(user.id);
	const encoder = new TextEncoder();
	let controller!: ReadableStreamDefaultController<Uint8Array>;
	let finish = () => {};
	const body = new ReadableStream<Uint8Array>(
		{
			start(c) {
				controller = c;
			},
			cancel() {
				finish();
			}
		},
		{ highWaterMark: OUTGOING_LIMIT_BYTES, size: (chunk) => chunk?.byteLength ?? 0 }
	);
	finish = await attachEventStream(app, user, sessionId, cursor, {
		write: (text) => controller.enqueue(encoder.encode(text)),
		queued: () => OUTGOING_LIMIT_BYTES - (controller.desiredSize ?? 0),
		end: () => controller.close(),
		destroy: () => {
			controller.error(new Error('event stream reader too slow'));
			socket?.destroy();
		}
	});
	return new Response(body, { headers: SSE_HEADERS });
}

/**
 * Runs the user's event stream into `out` until the client goes away (call the returned function
 * then) or the stream ends it. The caller has checked the connection limit and sent the headers.
 * Everything written (padding, keepalives, events, goodbyes) passes one limit on what is queued
 * (outgoing.ts): a client that stops reading is cut there, and resumes with Last-Event-ID.
 * Rejects only when the stream could not start (the database is down), having let go of all it
 * held but `out`: the caller answers with an error, or ends `out` when its headers are gone.
 */
export async function attachEventStream(
	app: Services,
	user: User,
	sessionId: string,
	cursor: string | undefined,
	out: SseOutput
): Promise<() => void> {
	if (!shutdownRegistered) {
		shutdownRegistered = true;
		app.onShutdown(async () => {
			for (const close of [...open]) close();
		});
	}
	let finished = false;
	let keepalive: ReturnType<typeof setInterval> | undefined;
	let stream: EventStream | undefined;

	const outgoing = new Outgoing(
		() => out.queued(),
		(bytes) => {
			console.warn(`Cutting the event stream of user ${user.id}: ${bytes} bytes unsent would pass the ${outgoing.limit}-byte limit`);
			finish();
			// No goodbye: it would wait behind everything the client is not reading.
			out.destroy();
		}
	);
	const write = (text: string) => {
		if (finished || !outgoing.admit(Buffer.byteLength(text))) return;
		try {
			out.write(text);
		} catch {
			finish();
		}
	};
	/** Lets go of everything the stream holds but `out`; false when that was done already. */
	const release = () => {
		if (finished) return false;
		finished = true;
		open.delete(finish);
		clearInterval(keepalive);
		stream?.close();
		app.chat.disconnected(user.id).catch((error) => logIfUnexpected('SSE disconnect', { user: user.id }, error));
		return true;
	};
	const finish = () => {
		if (!release()) return;
		try {
			out.end();
		} catch {
			/* already closed by the reader */
		}
	};

	const sink: StreamSink = {
		send: (event) => write(formatEvent(event)),
		backlogged: () => outgoing.backlogged(),
		drained: () =>
			new Promise((resolve) => {
				const check = () => (finished || outgoing.drained() ? resolve() : setTimeout(check, 10));
				check();
			}),
		close: (code, reason) => {
			write(`event: close\ndata: ${JSON.stringify({ code, reason })}\n\n`);
			finish();
		}
	};

	open.add(finish);
	let peers;
	try {
		await app.chat.connected(user.id);
		write(`${PADDING}retry: ${RETRY_MS}\n\n`);
		keepalive = setInterval(() => write(': keepalive\n\n'), app.config.sseKeepaliveMs);
		stream = new EventStream(app.database.db, app.bus, user, sessionId, sink, app.sessionWatch);
		peers = (await app.chat.peersOf(user.id)).map((p) => ({ ...p, online: app.chat.isOnline(p.id) }));
	} catch (error) {
		release();
		throw error;
	}
	// Returned before replay finishes, so headers go out at once.
	stream.start(cursor, peers).catch((error) => {
		if (!logIfUnexpected('SSE stream start', { user: user.id }, error)) console.error('SSE stream failed to start:', String(error));
		sink.close(CLOSE.serverError, 'temporarily unavailable');
	});
	return finish;
}
