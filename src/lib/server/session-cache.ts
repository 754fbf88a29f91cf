/**
 * Session rows recently read from the database, so that a busy client's requests do not each pay
 * a database round trip to prove the same cookie: on the SSE transport every message is its own
 * POST, and that lookup cost more than storing the message. The secret is still checked against
 * the cached hash on every request, and expiry against the clock. Ending a session forgets it here
 * at once and, through the bus's revoked notes, on every other instance; the time an entry lives
 * only bounds how long a change made straight in the database goes unseen.
 */
export interface CachedSessionRow {
	userId: string;
	username: string;
	secretHash: Uint8Array;
	createdAt: Date;
	lastVerifiedAt: Date;
}

interface Entry {
	row: CachedSessionRow;
	storedAt: number;
}

export class SessionCache {
	private readonly entries = new Map<string, Entry>();
	private readonly byUser = new Map<string, Set<string>>();
	/**
	 * When sessions (or all of a user's) were last forgotten: a lookup that began before that may
	 * have read the row just before it was deleted, and must not put it back.
	 */
	private readonly forgottenAt = new Map<string, number>();

	constructor(
		private readonly ttlMs: number,
		private readonly maxEntries = 100_000
	) {}

	get(sessionId: string, now = Date.now()): CachedSessionRow | undefined {
		const entry = this.entries.get(sessionId);
		if (!entry) return undefined;
		if (now - entry.storedAt >= this.ttlMs) {
			this.drop(sessionId);
			return undefined;
		}
		return entry.row;
	}

	/** Stores a row read by a lookup that began at `readSince` (so a forget since then wins). */
	set(sessionId: string, row: CachedSessionRow, readSince: number, now = Date.now()): void {
		if (this.ttlMs <= 0) return;
		if ((this.forgottenAt.get(sessionId) ?? -Infinity) >= readSince) return;
		if ((this.forgottenAt.get(`user:${row.userId}`) ?? -Infinity) >= readSince) return;
		if (!this.entries.has(sessionId) && this.entries.size >= this.maxEntries) this.evictOldest();
		this.drop(sessionId);
		this.entries.set(sessionId, { row, storedAt: now });
		let ids = this.byUser.get(row.userId);
		if (!ids) this.byUser.set(row.userId, (ids = new Set()));
		ids.add(sessionId);
	}

	forget(sessionId: string, now = Date.now()): void {
		this.remember(sessionId, now);
		this.drop(sessionId);
	}

	/** Forgets the listed sessions of a user, or all of them. */
	forgetUser(userId: string, sessionIds: string[] | 'all' = 'all', now = Date.now()): void {
		if (sessionIds !== 'all') {
			for (const id of sessionIds) this.forget(id, now);
			return;
		}
		this.remember(`user:${userId}`, now);
		for (const id of [...(this.byUser.get(userId) ?? [])]) this.drop(id);
	}

	get size(): number {
		return this.entries.size;
	}

	private remember(key: string, now: number) {
		this.forgottenAt.delete(key);
		this.forgottenAt.set(key, now);
		// No lookup takes anywhere near ttlMs: older marks can go (they are in time order).
		for (const [old, at] of this.forgottenAt) {
			if (now - at < this.ttlMs && this.forgottenAt.size <= this.maxEntries) break;
			this.forgottenAt.delete(old);
		}
	}

	private drop(sessionId: string): void {
		const entry = this.entries.get(sessionId);
		if (!entry) return;
		this.entries.delete(sessionId);
		const ids = this.byUser.get(entry.row.userId);
		ids?.delete(sessionId);
		if (ids?.size === 0) this.byUser.delete(entry.row.userId);
	}

	/** Entries are kept in insertion order, and a refresh re-inserts, so the first is the oldest. */
	private evictOldest() {
		const oldest = this.entries.keys().next();
		if (!oldest.done) this.drop(oldest.value);
	}
}
