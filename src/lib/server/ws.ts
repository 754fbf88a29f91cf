/**
 * The WebSocket endpoint /ws: authenticates the upgrade (session cookie, Origin), then adapts
 * frames to the chat service and the socket to the user's event stream (chat/streams.ts). Mounted
 * by server/index.js in production and by the Vite plugin in dev; the same code either way.
 */
import type { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { AppError } from '$lib/errors';
import { CLOSE, type CloseCode } from '$lib/protocol';
import { clientFrameSchema, describeIssues, MAX_JSON_BYTES } from '$lib/schemas';
import type { PushEvent, ServerFrame, User } from '$lib/types';
import { echoedId } from './echo-id';
import { toAppError } from './failures';
import { guard, logIfUnexpected } from './guard';
import { metrics } from './metrics';
import { Outgoing } from './outgoing';
import { ReadControl, whenDrained, type Readable } from './ws-flow';
import type { Services } from './services';
import { crossSiteError, errorReply, nodeHeaders, nodeOrigin, sessionToken, writeRawReply } from './edge';
import type { StreamTransport } from './chat/streams';
import { log } from './log';

/** What the endpoint needs of the services. */
export type WebSocketDeps = Pick<Services, 'config' | 'sessions' | 'chat' | 'streams'>;

/**
 * A socket closed for being too slow gets this long to take what it was sent and the close frame;
 * its answer is not read (the socket stays paused), so the socket is ended when this runs out.
 */
export const SLOW_CLOSE_GRACE_MS = 5_000;
/** At shutdown, how long a socket gets to answer the 1001 close frame before it is ended. */
export const SHUTDOWN_GRACE_MS = 50;

/** The part of a `ws` WebSocket the transport uses. */
export interface SocketLike extends Readable, EventEmitter {
	readonly CLOSED: number;
	readonly bufferedAmount: number;
	send(text: string): void;
	close(code?: number, reason?: string): void;
	terminate(): void;
}

/**
 * One socket as a stream transport. Every frame written (events, acks, errors, pongs) passes one
 * limit (outgoing.ts); the first that would pass it closes the socket 1013.
 */
export class WebSocketTransport implements StreamTransport {
	readonly name = 'WebSocket';
	readonly outgoing: Outgoing;
	readonly reading: ReadControl;
	/**
	 * Kept here and called from one 'close' listener: every `once` listener costs a bound function
	 * and a state object, and an idle server holds thousands of sockets (docs/performance.md).
	 */
	private closeListeners: (() => void)[] | undefined = [];
	/** Made only when something waits for it (a shutdown, a cut socket's stream). */
	private gone?: Promise<void>;

	constructor(
		private readonly ws: SocketLike,
		private readonly user: User,
		/** The socket's own TCP socket (absent in tests): its 'drain' ends a wait, and it is corked. */
		private readonly raw?: Duplex
	) {
		ws.on('close', () => this.ended());
		this.outgoing = new Outgoing(
			() => ws.bufferedAmount,
			(bytes) => {
				log.warn(
					{ user: user.id, bytes, limit: this.outgoing.limit },
					`Closing the WebSocket of user ${user.id}: ${bytes} bytes unsent would pass the ${this.outgoing.limit}-byte limit`
				);
				// Nothing more is read from it (see ReadControl), and its stream waits for the close
				// (see drained), so nothing more is computed for it. The close frame waits behind
				// everything unsent: a client that reads gets it, one that does not is cut.
				ws.pause();
				ws.close(CLOSE.tryAgainLater, 'too slow; resume from your cursor');
				const cut = setTimeout(() => ws.terminate(), SLOW_CLOSE_GRACE_MS);
				ws.once('close', () => clearTimeout(cut));
			}
		);
		this.reading = new ReadControl(ws, this.outgoing, () => whenDrained(ws, raw, this.outgoing));
	}

	/** Writes one frame if the socket is open and the limit admits it. */
	write(frame: ServerFrame): void {
		if (this.ws.readyState !== this.ws.OPEN) return;
		const text = JSON.stringify(frame);
		if (!this.outgoing.admit(Buffer.byteLength(text))) return;
		corkUntilNextTurn(this.raw);
		this.ws.send(text);
		this.reading.wrote();
	}

	send(event: PushEvent): void {
		this.write(event);
	}

	backlogged(): boolean {
		return this.outgoing.closed || this.outgoing.backlogged();
	}

	/** Once cut for being too slow, the stream waits for the close rather than reading more of the log for nothing. */
	drained(): Promise<void> {
		return this.outgoing.closed ? this.whenGone() : whenDrained(this.ws, this.raw, this.outgoing);
	}

	close(code: CloseCode, reason: string): void {
		this.ws.close(code, reason);
	}

	async goAway(): Promise<void> {
		this.ws.close(CLOSE.goingAway, 'server shutting down');
		let timer: ReturnType<typeof setTimeout> | undefined;
		await Promise.race([this.whenGone(), new Promise((resolve) => (timer = setTimeout(resolve, SHUTDOWN_GRACE_MS)))]);
		clearTimeout(timer);
		this.ws.terminate();
	}

	onClose(listener: () => void): void {
		if (this.closeListeners && this.ws.readyState !== this.ws.CLOSED) this.closeListeners.push(listener);
		else listener();
	}

	private whenGone(): Promise<void> {
		return (this.gone ??= new Promise((resolve) => this.onClose(resolve)));
	}

	private ended() {
		const listeners = this.closeListeners;
		this.closeListeners = undefined;
		for (const listener of listeners ?? []) {
			guard(
				'a WebSocket close',
				() => ({ user: this.user.id }),
				() => {},
				listener
			);
		}
	}
}

const KEY = Symbol.for('duet.ws');
/** `connections` maps each open socket to whether it answered since the last ping. */
type State = { wss: WebSocketServer; connections: Map<WebSocket, boolean>; heartbeat?: ReturnType<typeof setInterval> };

/** One server and one heartbeat per process, even when dev loads this module twice. */
function state(): State {
	const g = globalThis as Record<symbol, State>;
	if (g[KEY]) return g[KEY];
	const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_JSON_BYTES, perMessageDeflate: false, clientTracking: false });
	// A handshake ws cannot accept (bad key, version, Upgrade header) answers in the protocol's shape too.
	wss.on('wsClientError', (error, socket) => refuse(socket, new AppError('bad_request', `${error.message}.`)));
	const created: State = { wss, connections: new Map() };
	g[KEY] = created;
	return created;
}

/**
 * Pings every connection each interval and ends one that did not answer the last ping; runs while
 * any is open. Its listeners are shared functions (`this` is the socket), not closures per socket.
 */
function track(socket: WebSocket, heartbeatMs: number) {
	const current = state();
	current.connections.set(socket, true);
	current.heartbeat ??= setInterval(() => {
		for (const [socket, alive] of current.connections) {
			if (!alive) {
				socket.terminate();
				continue;
			}
			current.connections.set(socket, false);
			socket.ping();
		}
	}, heartbeatMs);
	current.heartbeat.unref();
	socket.on('pong', markAlive);
	socket.on('close', untrack);
}

function markAlive(this: WebSocket) {
	const { connections } = state();
	if (connections.has(this)) connections.set(this, true);
}

function untrack(this: WebSocket) {
	const current = state();
	current.connections.delete(this);
	if (current.connections.size > 0) return;
	clearInterval(current.heartbeat);
	current.heartbeat = undefined;
}

/** ws closes the connection itself after an error (see attach); this only keeps it from being thrown as unhandled. */
function ignoreError() {}

/** Refuses the upgrade with a JSON error body (the edge's reply), then closes the socket. */
function refuse(socket: Duplex, error: AppError) {
	writeRawReply(socket, errorReply(error));
}

export async function handleUpgrade(app: WebSocketDeps, req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
	socket.on('error', () => socket.destroy());
	// The path alone decides, without the URL parser: it throws on request lines like '//'.
	const path = (req.url ?? '').split('?')[0];
	if (path !== '/ws') {
		socket.destroy();
		return;
	}
	try {
		const headers = nodeHeaders(req);
		const crossSite = crossSiteError(headers, nodeOrigin(req, app.config), 'WebSocket connections');
		if (crossSite) throw crossSite;
		const cursor = new URLSearchParams((req.url ?? '').slice(path.length + 1)).get('cursor') ?? undefined;
		const token = sessionToken(headers);
		const validated = token ? await app.sessions.validate(token) : null;
		if (!validated) throw new AppError('unauthorized', 'Sign in to connect.');
		// Refused here, the client gets the error as an HTTP reply rather than a closed socket.
		app.streams.checkLimit(validated.user.id);
		state().wss.handleUpgrade(req, socket, head, (ws) => {
			void serve(app, ws, validated.user, validated.session.id, cursor);
		});
	} catch (error) {
		refuse(socket, toAppError(error));
	}
}

/**
 * Serves one socket until it closes. Never rejects: whatever goes wrong is logged and costs this
 * socket only (closed 1011).
 */
async function serve(app: WebSocketDeps, ws: WebSocket, user: User, sessionId: string, cursor: string | undefined) {
	try {
		const transport = attach(app, ws, user);
		const open = await app.streams.open(user, sessionId, cursor, transport);
		await open.started;
	} catch (error) {
		if (!logIfUnexpected('WebSocket start', { user: user.id }, error))
			log.error({ err: error, user: user.id }, 'WebSocket stream failed to start');
		ws.close(CLOSE.serverError, 'temporarily unavailable');
	}
}

/** Wires one socket's frames to the chat service; its stream is the caller's to open. */
function attach(app: WebSocketDeps, ws: WebSocket, user: User): WebSocketTransport {
	track(ws, app.config.wsHeartbeatMs);
	const transport = new WebSocketTransport(ws, user, rawSocket(ws));

	ws.on('message', (data, isBinary) => {
		markAlive.call(ws);
		// A closing socket's frames go unanswered: nothing it asks for could be sent anyway.
		if (ws.readyState !== ws.OPEN) return;
		const context: FrameContext = { user: user.id, frame: undefined };
		const write = (frame: ServerFrame) => transport.write(frame);
		transport.reading.started();
		guard(
			'a WebSocket frame',
			() => context,
			() => ws.close(CLOSE.serverError, 'internal error'),
			() => handleFrame(app, user, data, isBinary, write, context).finally(() => transport.reading.settled())
		);
	});
	// ws closes the connection itself after an error: with the violation's close code for a bad
	// frame (1009 for one over 64 KiB), then ends the socket once that close frame is written.
	// Terminating here would destroy the socket at once and could lose that close frame with it.
	ws.on('error', ignoreError);
	return transport;
}

type FrameContext = { user: string; frame: string | undefined };

async function handleFrame(
	app: WebSocketDeps,
	user: User,
	data: RawData,
	isBinary: boolean,
	write: (frame: ServerFrame) => void,
	context: FrameContext
) {
	let frame: unknown;
	try {
		frame = JSON.parse(isBinary ? '\u0000' : data.toString());
	} catch {
		metrics.errors.inc({ code: 'bad_request' });
		write({ type: 'error', code: 'bad_request', message: 'Frames must be JSON text.' });
		return;
	}
	const id = echoedId(frame);
	const parsed = clientFrameSchema.safeParse(frame);
	if (!parsed.success) {
		metrics.errors.inc({ code: 'bad_request' });
		write({ type: 'error', code: 'bad_request', message: describeIssues(parsed.error), ...(id ? { id } : {}) });
		return;
	}
	const input = parsed.data;
	context.frame = input.type;
	try {
		switch (input.type) {
			case 'ping':
				write({ type: 'pong' });
				return;
			case 'send': {
				const { type: _type, ...send } = input;
				const ack = await app.chat.send(user.id, send);
				write({ type: 'ack', ...ack });
				return;
			}
			case 'change': {
				const message = await app.chat.change(user.id, input.change);
				write({ type: 'changed', id: input.id, message });
				return;
			}
			case 'receipt':
				await app.chat.receipt(user.id, input);
				return;
			case 'typing':
				await app.chat.typing(user.id, input.conversationId);
				return;
			case 'typing_stopped':
				await app.chat.typingStopped(user.id, input.conversationId);
				return;
		}
	} catch (error) {
		const appError = toAppError(error);
		metrics.errors.inc({ code: appError.code });
		write({
			type: 'error',
			code: appError.code,
			message: appError.message,
			...(id ? { id } : {}),
			...(appError.retryAfter ? { retryAfter: appError.retryAfter } : {})
		});
	}
}

/**
 * Frames written to one socket in one turn of the event loop (an ack and the echo of the same
 * message, a committed batch's events) leave in one write instead of one system call each.
 * Corked bytes count in ws.bufferedAmount, so the limit sees them.
 */
const corked = new Set<Duplex>();
function corkUntilNextTurn(socket: Duplex | undefined) {
	if (!socket || corked.has(socket)) return;
	socket.cork();
	if (corked.size === 0) setImmediate(uncorkAll);
	corked.add(socket);
}
function uncorkAll() {
	for (const socket of corked) socket.uncork();
	corked.clear();
}

function rawSocket(ws: WebSocket): Duplex | undefined {
	return (ws as unknown as { _socket?: Duplex })._socket;
}
