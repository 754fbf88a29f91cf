/**
 * Ends the open connections of sessions that ended where no revoked note told this process:
 * expired, deleted on an instance that could not notify, removed straight in the database.
 * One timer and one query per thousand sessions each interval, not a timer and a query per
 * connection: a restart reconnects every client within seconds, and per-connection timers would
 * then fire as one burst of queries every interval, for as long as the process lives.
 */
import { inArray } from 'drizzle-orm';
import { sessions } from './db/schema';
import type { Sessions } from './session';

const CHUNK = 1000;

export class SessionWatch {
	private readonly watchers = new Map<string, Set<() => void>>();
	private timer?: ReturnType<typeof setInterval>;
	private checking = false;

	constructor(
		private readonly sessions: Sessions,
		private readonly intervalMs: number
	) {}

	/** Calls `onEnded` once the session is found ended; returns the function that stops watching. */
	add(sessionId: string, onEnded: () => void): () => void {
		let set = this.watchers.get(sessionId);
		if (!set) this.watchers.set(sessionId, (set = new Set()));
		set.add(onEnded);
		if (!this.timer) {
			this.timer = setInterval(() => void this.check(), this.intervalMs);
			this.timer.unref?.();
		}
		return () => {
			set.delete(onEnded);
			if (set.size === 0 && this.watchers.get(sessionId) === set) this.watchers.delete(sessionId);
		};
	}

	/** Reads every watched session once; the database being away is not a session ending. */
	async check(now = new Date()): Promise<void> {
		if (this.checking) return;
		this.checking = true;
		try {
			const ids = [...this.watchers.keys()];
			for (let i = 0; i < ids.length; i += CHUNK) {
				const chunk = ids.slice(i, i + CHUNK);
				let rows;
				try {
					rows = await this.sessions.db
						.select({ id: sessions.id, createdAt: sessions.createdAt, lastVerifiedAt: sessions.lastVerifiedAt })
						.from(sessions)
						.where(inArray(sessions.id, chunk));
				} catch {
					return;
				}
				const alive = new Set(rows.filter((row) => now.getTime() < this.sessions.expiresAt(row).getTime()).map((r) => r.id));
				for (const id of chunk) {
					if (alive.has(id)) continue;
					this.sessions.cache.forget(id);
					for (const onEnded of this.watchers.get(id) ?? []) onEnded();
					this.watchers.delete(id);
				}
			}
		} finally {
			this.checking = false;
		}
	}

	close(): void {
		clearInterval(this.timer);
		this.timer = undefined;
		this.watchers.clear();
	}
}
