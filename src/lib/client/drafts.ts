/** Per-conversation drafts in Dexie, saved as you type (debounced), restored on reload and followed live by other tabs. */
import { watch } from './live-query';
import type { DuetDb } from './db';

export const DRAFT_DEBOUNCE_MS = 300;

export function loadDraft(db: DuetDb, conversationId: string): Promise<string> {
	return db.drafts.get(conversationId).then((d) => d?.body ?? '');
}

/**
 * Calls `ondraft` with the stored draft now and whenever it changes, in this tab or another one
 * (Dexie's live queries hear other tabs' writes). Returns the way to stop.
 */
export function watchDraft(db: DuetDb, conversationId: string, ondraft: (body: string) => void): () => void {
	return watch(() => loadDraft(db, conversationId), {
		next: ondraft,
		error: (error) => console.warn('Could not follow the draft', error)
	});
}

/** Conversation id → its unsent text, for the conversation list's "Draft:" line. */
export async function draftBodies(db: DuetDb): Promise<Map<string, string>> {
	return new Map((await db.drafts.toArray()).map((d) => [d.conversationId, d.body]));
}

async function saveDraft(db: DuetDb, conversationId: string, body: string, now = Date.now()): Promise<void> {
	if (body.trim() === '') await db.drafts.delete(conversationId);
	else await db.drafts.put({ conversationId, body, updatedAt: now });
}

export interface Timers {
	set(fn: () => void, ms: number): unknown;
	clear(handle: unknown): void;
}

const realTimers: Timers = {
	set: (fn, ms) => setTimeout(fn, ms),
	clear: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>)
};

/**
 * Saves the latest text once typing pauses. `flush` writes at once (leaving the page, switching
 * conversation); `clear` drops the draft after a send, cancelling any save still pending.
 */
export function draftSaver(db: DuetDb, conversationId: string, delayMs = DRAFT_DEBOUNCE_MS, timers: Timers = realTimers) {
	let handle: unknown;
	let pending: string | null = null;
	/** Writes of this saver not landed yet: until they have, what the store says is older than this tab. */
	let writing = 0;
	const track = (write: Promise<unknown>): Promise<void> => {
		writing++;
		return write.then(
			() => void writing--,
			(error: unknown) => {
				writing--;
				throw error;
			}
		);
	};
	const write = () => {
		handle = undefined;
		if (pending === null) return Promise.resolve();
		const body = pending;
		pending = null;
		return track(saveDraft(db, conversationId, body));
	};
	return {
		/** Typed here and not stored yet: this tab's text is newer than the stored draft. */
		get pending(): boolean {
			return pending !== null || writing > 0;
		},
		update(body: string) {
			pending = body;
			if (handle !== undefined) timers.clear(handle);
			handle = timers.set(() => void write(), delayMs);
		},
		flush(): Promise<void> {
			if (handle !== undefined) timers.clear(handle);
			return write();
		},
		clear(): Promise<void> {
			if (handle !== undefined) timers.clear(handle);
			handle = undefined;
			pending = null;
			return track(db.drafts.delete(conversationId));
		}
	};
}
