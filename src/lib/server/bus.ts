/**
 * The event bus: how a committed event reaches the connections that should see it. Notes carry
 * the recipient and cursor (and, in process, the rendered event as a shortcut); a receiver that
 * misses one reads the log, so the bus may lose or reorder notes without losing events.
 */
import type { DurableEvent, EphemeralEvent } from '$lib/types';

export type Note =
	| { kind: 'event'; userId: string; seq: number; event?: DurableEvent }
	| { kind: 'ephemeral'; userId: string; event: EphemeralEvent }
	/** Sessions ended (logout): their open connections must close. */
	| { kind: 'revoked'; userId: string; sessionIds: string[] | 'all' };

export type Listener = (note: Note) => void;

export interface EventBus {
	publish(notes: Note[]): void;
	/** Listens to every note for `userId`; returns the unsubscribe function. */
	subscribe(userId: string, listener: Listener): () => void;
	close(): Promise<void>;
}

export class InProcessBus implements EventBus {
	private readonly listeners = new Map<string, Set<Listener>>();

	publish(notes: Note[]): void {
		for (const note of notes) {
			const set = this.listeners.get(note.userId);
			if (!set) continue;
			for (const listener of set) {
				try {
					listener(note);
				} catch (error) {
					console.error('Event listener failed:', error);
				}
			}
		}
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

	async close(): Promise<void> {
		this.listeners.clear();
	}
}
