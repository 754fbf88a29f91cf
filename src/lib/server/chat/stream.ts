/**
 * One user's push stream over any transport: replays the event log from a cursor, then goes live,
 * with no gap and no duplicate. Live notes are only hints: when a note is not the very next
 * cursor, or a replay is running, the stream reads the log instead, so ordering never depends on
 * the bus. A reader that cannot keep up is closed by its transport (see outgoing.ts) and resumes
 * from its cursor.
 */
import { CLOSE, type CloseCode } from '$lib/protocol';
import type { PushEvent, User } from '$lib/types';
import type { EventBus, Note } from '../bus';
import type { Db } from '../db';
import { isUnavailable } from '../failures';
import type { SessionWatch } from '../session-watch';
import { canResumeAfter, currentCursor, readEvents } from './events';
import { log } from '../log';

export interface StreamSink {
	/** Writes one event; a sink whose limit it would pass closes its connection instead. */
	send(event: PushEvent): void;
	/** True when the transport holds so much unsent data that replay should wait and ephemeral events are dropped. */
	backlogged(): boolean;
	/** Resolves once the transport has drained enough to take more, or has closed. */
	drained(): Promise<void>;
	close(code: CloseCode, reason: string): void;
}

const REPLAY_BATCH = 500;
/** While the database is away, the log is tried again this often (the connection stays open). */
const PULL_RETRY_MS = 500;

function parseCursor(cursor: string): number | null {
	return /^(0|[1-9]\d{0,15})$/.test(cursor) ? Number(cursor) : null;
}

export class EventStream {
	private lastSent = 0;
	private started = false;
	private pulling = false;
	private dirty = false;
	private closed = false;
	private unsubscribe?: () => void;
	private unwatch?: () => void;
	private retry?: ReturnType<typeof setTimeout>;

	constructor(
		private readonly db: Db,
		private readonly bus: EventBus,
		readonly user: User,
		readonly sessionId: string,
		private readonly sink: StreamSink,
		/** Logout closes the stream at once through the bus; the watch also finds sessions that ended unannounced. */
		private readonly sessionWatch?: SessionWatch
	) {}

	get cursor(): number {
		return this.lastSent;
	}

	/** Subscribes first, then fixes the starting cursor, so nothing committed in between is missed. */
	async start(cursor: string | undefined, peers: { id: string; online: boolean; lastSeenAt: Date | null }[] = []) {
		// A stream closed before it started would otherwise subscribe for good.
		if (this.closed) return;
		this.unsubscribe = this.bus.subscribe(this.user.id, (note) => this.onNote(note));
		this.unwatch = this.sessionWatch?.add(this.sessionId, () => {
			if (this.closed) return;
			this.sink.close(CLOSE.sessionEnded, 'session ended');
			this.close();
		});
		this.pulling = true;
		try {
			const current = await currentCursor(this.db, this.user.id);
			let start = current;
			if (cursor !== undefined) {
				const requested = parseCursor(cursor);
				if (requested === null || requested > current || !(await canResumeAfter(this.db, this.user.id, requested, current))) {
					this.sink.send({ type: 'reset', cursor: String(current) });
				} else {
					start = requested;
				}
			}
			this.lastSent = start;
			this.started = true;
			this.sink.send({ type: 'ready', cursor: String(start), user: this.user });
			for (const peer of peers) {
				this.sink.send({
					type: 'presence',
					userId: peer.id,
					online: peer.online,
					lastSeenAt: peer.lastSeenAt?.toISOString() ?? null
				});
			}
		} finally {
			this.pulling = false;
		}
		await this.pull();
	}

	close(): void {
		this.closed = true;
		clearTimeout(this.retry);
		this.unwatch?.();
		this.unsubscribe?.();
	}

	private onNote(note: Note) {
		if (this.closed) return;
		if (note.kind === 'ephemeral') {
			if (!this.sink.backlogged()) this.sink.send(note.event);
			return;
		}
		if (note.kind === 'revoked') {
			if (note.sessionIds === 'all' || note.sessionIds.includes(this.sessionId)) {
				this.sink.close(CLOSE.sessionEnded, 'session ended');
				this.close();
			}
			return;
		}
		if (note.seq <= this.lastSent && this.started) return;
		if (this.started && !this.pulling && note.event && note.seq === this.lastSent + 1) {
			// Live events do not wait: a reader too slow for them passes its sink's limit and is closed.
			this.lastSent = note.seq;
			this.sink.send(note.event);
			return;
		}
		void this.pull();
	}

	/** Reads the log after lastSent until it is exhausted; one reader at a time. */
	private async pull(): Promise<void> {
		if (this.pulling) {
			this.dirty = true;
			return;
		}
		this.pulling = true;
		try {
			do {
				this.dirty = false;
				for (;;) {
					const batch = await readEvents(this.db, this.user.id, this.lastSent, REPLAY_BATCH);
					if (this.closed) return;
					for (const event of batch.events) {
						// Replay can wait for the reader, so a long replay never passes the sink's limit.
						if (this.sink.backlogged()) await this.sink.drained();
						if (this.closed) return;
						this.sink.send(event);
					}
					if (batch.lastSeq !== undefined) this.lastSent = batch.lastSeq;
					if (batch.rowCount < REPLAY_BATCH) break;
				}
			} while (this.dirty && !this.closed);
		} catch (error) {
			if (this.closed) return;
			if (isUnavailable(error)) {
				// A blip of the database costs this stream a moment, not its connection: closing would
				// send every client back to reconnect (and replay) at once when the database returns.
				this.retry ??= setTimeout(() => {
					this.retry = undefined;
					void this.pull();
				}, PULL_RETRY_MS);
				return;
			}
			log.error({ err: error, user: this.user.id }, 'Event stream failed to read the log');
			this.sink.close(CLOSE.serverError, 'temporarily unable to read events');
			this.close();
		} finally {
			this.pulling = false;
		}
	}
}
