/**
 * The WebSocket endpoint /ws: authenticates the upgrade (session cookie, Origin), then adapts
 * frames to the chat service and the user's event stream. Mounted by server/index.js in production
 * and by the Vite plugin in dev; the same code either way.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { AppError } from '$lib/errors';
import { CLOSE } from '$lib/protocol';
import { clientFrameSchema, describeIssues, MAX_JSON_BYTES } from '$lib/schemas';
import type { PushEvent, ServerFrame, User } from '$lib/types';
import { echoedId } from './echo-id';
import { toAppError } from './failures';
import { guard, logIfUnexpected } from './guard';
import { Outgoing } from './outgoing';
import { readControl, whenDrained } from './ws-flow';
import { services, type Services } from './services';
import { crossSiteError, errorReply, nodeHeaders, nodeOrigin, sessionToken, writeRawReply } from './edge';
import { EventStream, type StreamSink } from './chat/stream';

/**
 * A socket closed for being too slow gets this long to take what it was sent and the close frame;
 * its answer is not read (the socket stays paused), so the socket is ended when this runs out.
 */
const SLOW_CLOSE_GRACE_MS = 5_000;

interface Connection {
	socket: WebSocket;
	user: User;
	alive: boolean;
}

const KEY = Symbol.for('duet.ws');
type State = { wss: WebSocketServer; connections: Set<Connection>; heartbeat: ReturnType<typeof setInterval> };

function state(app: Services): State {
	const g = globalThis as Record<symbol, State>;
	if (g[KEY]) return g[KEY];
	const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_JSON_BYTES, perMessageDeflate: false, clientTracking: false });
	// A handshake ws cannot accept (bad key, version, Upgrade header) answers in the protocol's shape too.
	wss.on('wsClientError', (error, socket) => refuse(socket, new AppError('bad_request', `${error.message}.`)));
	const connections = new Set<Connection>();
	const heartbeat = setInterval(() => {
		for (const connection of connections) {
			if (!connection.alive) {
				connection.socket.terminate();
				continue;
			}
			connection.alive = false;
			connection.socket.ping();
		}
	}, app.config.wsHeartbeatMs);
	heartbeat.unref();
	const created: State = { wss, connections, heartbeat };
	g[KEY] = created;
	app.onShutdown(async () => {
		clearInterval(heartbeat);
		for (const connection of connections) connection.socket.close(CLOSE.goingAway, 'server shutting down');
		await new Promise((resolve) => setTimeout(resolve, 50));
		for (const connection of connections) connection.socket.terminate();
	});
	return created;
}

/** Refuses the upgrade with a JSON error body (the edge's reply), then closes the socket. */
function refuse(socket: Duplex, error: AppError) {
	writeRawReply(socket, errorReply(error));
}

export async function handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
	socket.on('error', () => socket.destroy());
	// The path alone decides, without the URL parser: it throws on request lines like '//'.
	const path = (req.url ?? '').split('?')[0];
	if (path !== '/ws') {
		socket.destroy();
		return;
	}
	try {
		const app = services();
		const headers = nodeHeaders(req);
		const crossSite = crossSiteError(headers, nodeOrigin(req, app.config), 'WebSocket connections');
		if (crossSite) throw crossSite;
		const cursor = new URLSearchParams((req.url ?? '').slice(path.length + 1)).get('cursor') ?? undefined;
		const token = sessionToken(headers);
		const validated = token ? await app.sessions.validate(token) : null;
		if (!validated) throw new AppError('unauthorized', 'Sign in to connect.');
		app.chat.checkConnectionLimit(validated.user.id);
		const { wss } = state(app);
		wss.handleUpgrade(req, socket, head, (ws) => {
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
async function serve(app: Services, ws: WebSocket, user: User, sessionId: string, cursor: string | undefined) {
	try {
		const stream = attach(app, ws, user, sessionId);
		await app.chat.connected(user.id);
		const peers = (await app.chat.peersOf(user.id)).map((p) => ({ ...p, online: app.chat.isOnline(p.id) }));
		await stream.start(cursor, peers);
	} catch (error) {
		if (!logIfUnexpected('WebSocket start', { user: user.id }, error)) console.error('WebSocket stream failed to start:', String(error));
		ws.close(CLOSE.serverError, 'temporarily unavailable');
	}
}

/** Wires one socket to its event stream and the chat service; every frame written passes one limit. */
function attach(app: Services, ws: WebSocket, user: User, sessionId: string): EventStream {
	const { connections } = state(app);
	const connection: Connection = { socket: ws, user, alive: true };
	connections.add(connection);
	ws.on('pong', () => (connection.alive = true));

	const outgoing = new Outgoing(
		() => ws.bufferedAmount,
		(bytes) => {
			console.warn(`Closing the WebSocket of user ${user.id}: ${bytes} bytes unsent would pass the ${outgoing.limit}-byte limit`);
			stream.close();
			// Nothing more is read from it (see readControl), so nothing more is computed for it. The
			// close frame waits behind everything unsent: a client that reads gets it, one that does
			// not is cut.
			ws.pause();
			ws.close(CLOSE.tryAgainLater, 'too slow; resume from your cursor');
			const cut = setTimeout(() => ws.terminate(), SLOW_CLOSE_GRACE_MS);
			ws.once('close', () => clearTimeout(cut));
		}
	);
	const reading = readControl(ws, outgoing, () => whenDrained(ws, rawSocket(ws), outgoing));
	const write = (frame: ServerFrame) => {
		if (ws.readyState !== ws.OPEN) return;
		const text = JSON.stringify(frame);
		if (!outgoing.admit(Buffer.byteLength(text))) return;
		corkUntilNextTurn(ws);
		ws.send(text);
		reading.wrote();
	};
	const sink: StreamSink = {
		send: (event: PushEvent) => write(event),
		backlogged: () => outgoing.backlogged(),
		drained: () => whenDrained(ws, rawSocket(ws), outgoing),
		close: (code, reason) => ws.close(code, reason)
	};
	const stream = new EventStream(app.database.db, app.bus, user, sessionId, sink, app.sessionWatch);
	const fail = () => ws.close(CLOSE.serverError, 'internal error');

	ws.on('message', (data, isBinary) => {
		connection.alive = true;
		// A closing socket's frames go unanswered: nothing it asks for could be sent anyway.
		if (ws.readyState !== ws.OPEN) return;
		const context: FrameContext = { user: user.id, frame: undefined };
		reading.started();
		guard('a WebSocket frame', () => context, fail, () => handleFrame(app, user, data, isBinary, write, context).finally(reading.settled));
	});
	// ws closes the connection itself after an error: with the violation's close code for a bad
	// frame (1009 for one over 64 KiB), then ends the socket once that close frame is written.
	// Terminating here would destroy the socket at once and could lose that close frame with it.
	// The listener only keeps the error from being thrown as unhandled.
	ws.on('error', () => {});
	ws.once('close', () => {
		guard('a WebSocket close', () => ({ user: user.id }), () => {}, () => {
			stream.close();
			connections.delete(connection);
			app.chat.disconnected(user.id).catch((error) => logIfUnexpected('WebSocket disconnect', { user: user.id }, error));
		});
	});
	return stream;
}

type FrameContext = { user: string; frame: string | undefined };

async function handleFrame(
	app: Services,
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
		write({ type: 'error', code: 'bad_request', message: 'Frames must be JSON text.' });
		return;
	}
	const id = echoedId(frame);
	const parsed = clientFrameSchema.safeParse(frame);
	if (!parsed.success) {
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
			case 'receipt':
				await app.chat.receipt(user.id, input);
				return;
			case 'typing':
				await app.chat.typing(user.id, input.conversationId);
				return;
		}
	} catch (error) {
		const appError = toAppError(error);
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
function corkUntilNextTurn(ws: WebSocket) {
	const socket = rawSocket(ws);
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
