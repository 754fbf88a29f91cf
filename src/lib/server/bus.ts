/**
 * The event bus: how a committed event reaches the connections that should see it. Notes carry
 * the recipient and cursor (and, in process, the rendered event as a shortcut); a receiver that
 * misses one reads the log, so the bus may lose or reorder notes without losing events.
 */
import type { DurableEvent, EphemeralEvent } from '$lib/types';
import { log } from './log';
import { metrics } from './metrics';

export type Note =
	| { kind: 'event'; userId: string; seq: number; event?: DurableEvent }
	| { kind: 'ephemeral'; userId: string; event: EphemeralEvent }
	/** Sessions ended (logout): their open connections must close. */
	| { kind: 'revoked'; userId: string; sessionIds: string[] | 'all' };

export type RevokedNote = Extract<Note, { kind: 'revoked' }>;

export type Listener = (note: Note) => void;

/**
 * A hint past every real cursor and without an event: the stream cannot take it as "the next
 * one", so it re-reads its log. Sent after the bus may have lost notes (LISTEN reconnect).
 */
export function resyncNote(userId: string): Note {
	return { kind: 'event', userId, seq: Number.MAX_SAFE_INTEGER };
}

export interface EventBus {
	publish(notes: Note[]): void;
	/** Listens to every note for `userId`; returns the unsubscribe function. */
	subscribe(userId: string, listener: Listener): () => void;
	/**
	 * Sees every revoked note, this instance's and (across instances) the others', whether or not
	 * the user has a connection here: caches of sessions must forget them too.
	 */
	onRevoked(handler: (note: RevokedNote) => void): void;
	/**
	 * Sees every batch published on this instance, after its local delivery, and never the notes
	 * relayed from other instances: each event is published once, on the instance that committed it,
	 * so work that must happen once per event (a Web Push) hangs here.
	 */
	onPublished(handler: (notes: Note[]) => void): void;
	close(): Promise<void>;
	/** Across instances only: whether another instance has push connections of this user. */
	onlineElsewhere?(userId: string): boolean;
	/**
	 * Across instances only: tells the others whether this instance has connections of the user;
	 * `announced` says whether this instance tells the user's peers that they went offline.
	 */
	setLocalPresence?(userId: string, online: boolean, announced?: boolean): void;
	/**
	 * Across instances only: called when another instance saw the user's last connection there close
	 * but left the "offline" announcement to others, and this instance now sees them nowhere.
	 */
	onPresenceGone?(handler: (userId: string) => void): void;
}

export class InProcessBus implements EventBus {
	private readonly listeners = new Map<string, Set<Listener>>();
	private readonly revokedHandlers: ((note: RevokedNote) => void)[] = [];
	private readonly publishedHandlers: ((notes: Note[]) => void)[] = [];

	publish(notes: Note[]): void {
		for (const note of notes) {
			if (note.kind === 'revoked') for (const handler of this.revokedHandlers) handler(note);
			const set = this.listeners.get(note.userId);
			if (!set) continue;
			for (const listener of set) {
				try {
					listener(note);
				} catch (error) {
					log.error({ err: error }, 'Event listener failed');
				}
			}
		}
		runPublished(this.publishedHandlers, notes);
	}

	subscribe(userId: string, listener: Listener): () => void {
		let set = this.listeners.get(userId);
		if (!set) this.listeners.set(userId, (set = new Set()));
		set.add(listener);
		return () => {
			set.delete(listener);
			if (set.size === 0) this.listeners.delete(userId);
		};
	}

	onRevoked(handler: (note: RevokedNote) => void): void {
		this.revokedHandlers.push(handler);
	}

	onPublished(handler: (notes: Note[]) => void): void {
		this.publishedHandlers.push(handler);
	}

	/** Whether a connection here listens to `userId`. */
	has(userId: string): boolean {
		return this.listeners.has(userId);
	}

	/** Users with at least one subscriber here. */
	userIds(): string[] {
		return [...this.listeners.keys()];
	}

	async close(): Promise<void> {
		this.listeners.clear();
	}
}

/** A failing handler costs its own work only: the notes are committed and delivered already. */
export function runPublished(handlers: ((notes: Note[]) => void)[], notes: Note[]): void {
	for (const handler of handlers) {
		try {
			handler(notes);
		} catch (error) {
			log.error({ err: error }, 'Publish handler failed');
		}
	}
}

/**
 * Counts the notes another instance sent this one, by whether anyone here wanted them: on a bus
 * where every instance hears everything (LISTEN/NOTIFY) most are for users elsewhere.
 */
export function countReceived(local: InProcessBus, notes: Note[]): void {
	const here = notes.filter((note) => note.kind === 'revoked' || local.has(note.userId)).length;
	if (here) metrics.busNotes.inc({ for: 'here' }, here);
	if (notes.length > here) metrics.busNotes.inc({ for: 'elsewhere' }, notes.length - here);
}
