/**
 * The one lifecycle of a push connection, whatever carries it (WebSocket or SSE): the connection
 * limit, presence (counted while the connection lasts, peers told on the first and the last),
 * the event stream (replay from a cursor, then live), teardown, and closing everything at
 * shutdown. A transport only adapts its connection to a StreamTransport and reports when it ends.
 */
import { CLOSE } from '$lib/protocol';
import type { User } from '$lib/types';
import type { EventBus } from '../bus';
import type { Db } from '../db';
import { logIfUnexpected } from '../guard';
import { metrics } from '../metrics';
import type { SessionWatch } from '../session-watch';
import type { ChatService } from './service';
import { EventStream, type StreamSink } from './stream';
import { log } from '../log';

/** One connection as the lifecycle sees it. */
export interface StreamTransport extends StreamSink {
	/** Names the transport in logs. */
	readonly name: string;
	/**
	 * The connection is counted and its replay about to begin. SSE writes its first bytes here, so
	 * that a stream refused before this point still gets an HTTP error reply.
	 */
	opened?(): void;
	/** The server is shutting down: the client should reconnect, elsewhere if need be (1001). */
	goAway(): void | Promise<void>;
	/** Calls `listener` once, when the connection has ended, whoever ended it (at once if it has). */
	onClose(listener: () => void): void;
}

export interface OpenStream {
	readonly stream: EventStream;
	/** Settles once replay is done and the stream is live, or it failed to start (the connection was then closed 1011). */
	readonly started: Promise<void>;
	/** Lets go of everything the connection held (stream, place under the limit, presence); idempotent. */
	close(): void;
}

/** What the lifecycle needs of the chat service. */
export type StreamPresence = Pick<ChatService, 'checkConnectionLimit' | 'connected' | 'disconnected' | 'peersOf' | 'isOnline'>;

export interface StreamsDeps {
	db: Db;
	bus: EventBus;
	chat: StreamPresence;
	sessionWatch?: SessionWatch;
}

interface Entry {
	transport: StreamTransport;
	release(): void;
}

export class Streams {
	private readonly live = new Set<Entry>();
	/** Presence updates of released connections still being written (lastSeenAt, the "offline" announcement). */
	private readonly leaving = new Set<Promise<void>>();

	constructor(private readonly deps: StreamsDeps) {}

	/** Open streams in this process. */
	get size(): number {
		return this.live.size;
	}

	/**
	 * Throws rate_limited past MAX_CONNECTIONS_PER_USER. open() checks it too; this is for a
	 * transport that must refuse before it commits to a connection (the WebSocket upgrade).
	 */
	checkLimit(userId: string): void {
		this.deps.chat.checkConnectionLimit(userId);
	}

	/**
	 * Opens the user's stream on `transport`: checks the limit, counts the connection, then starts
	 * replay from `cursor` and goes live. Resolves before replay is done (see `started`). Rejects
	 * when the limit refuses it or presence could not be recorded (the database is down), having let
	 * go of all it held; the transport is then the caller's to answer or close.
	 */
	async open(user: User, sessionId: string, cursor: string | undefined, transport: StreamTransport): Promise<OpenStream> {
		const { db, bus, chat, sessionWatch } = this.deps;
		chat.checkConnectionLimit(user.id);
		const stream = new EventStream(db, bus, user, sessionId, transport, sessionWatch);
		let released = false;
		const entry: Entry = {
			transport,
			release: () => {
				if (released) return;
				released = true;
				this.live.delete(entry);
				metrics.connections.dec({ transport: transport.name });
				stream.close();
				const leaving = chat
					.disconnected(user.id)
					.catch((error) => void logIfUnexpected(`${transport.name} disconnect`, { user: user.id }, error))
					.finally(() => this.leaving.delete(leaving));
				this.leaving.add(leaving);
			}
		};
		this.live.add(entry);
		metrics.connections.inc({ transport: transport.name });
		transport.onClose(entry.release);
		let peers;
		try {
			// Counted before anything is awaited after the check, so two connections opening at once
			// cannot both pass the limit.
			await chat.connected(user.id);
			if (!released) transport.opened?.();
			peers = (await chat.peersOf(user.id)).map((p) => ({ ...p, online: chat.isOnline(p.id) }));
		} catch (error) {
			entry.release();
			throw error;
		}
		const started = released
			? Promise.resolve()
			: stream.start(cursor, peers).catch((error) => {
					if (!logIfUnexpected(`${transport.name} stream start`, { user: user.id }, error)) {
						log.error({ err: error, user: user.id, transport: transport.name }, 'Stream failed to start');
					}
					transport.close(CLOSE.serverError, 'temporarily unavailable');
				});
		return { stream, started, close: entry.release };
	}

	/**
	 * Sends every open connection away (WebSocket 1001, SSE ended) and waits until each has gone and
	 * its presence is recorded, so that none of it outlives the database closed after.
	 */
	async shutdown(): Promise<void> {
		await Promise.allSettled(
			[...this.live].map(async (entry) => {
				try {
					await entry.transport.goAway();
				} finally {
					entry.release();
				}
			})
		);
		await Promise.allSettled([...this.leaving]);
	}
}
