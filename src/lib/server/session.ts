/**
 * Sessions as Lucia's 2025 sessions guide builds them: the cookie holds `id.secret`, the database
 * holds only SHA-256(secret), compared in constant time. A session ends after SESSION_TTL_DAYS
 * without use (sliding) and in any case SESSION_MAX_DAYS after sign-in (absolute).
 */
import { sha256 } from '@oslojs/crypto/sha2';
import { constantTimeEqual } from '@oslojs/crypto/subtle';
import { encodeBase32LowerCaseNoPadding } from '@oslojs/encoding';
import { and, eq, ne, sql } from 'drizzle-orm';
import type { Db } from './db';
import { sessions, users } from './db/schema';
import type { SessionCache } from './session-cache';
import type { User } from '$lib/types';

export const SESSION_COOKIE = 'session';

/** Touching the row on every request would turn reads into writes; once an hour is enough. */
const ACTIVITY_CHECK_INTERVAL_MS = 60 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;

export interface Session {
	id: string;
	userId: string;
	createdAt: Date;
	lastVerifiedAt: Date;
}

/** What a sign-in remembers of where it came from, for the sessions list. */
export interface SessionDevice {
	userAgent?: string | null;
	address?: string | null;
}

/** One of a user's sessions as the sessions list shows it (the id is the session's own, not public). */
export interface SessionRecord extends Session {
	userAgent: string | null;
	address: string | null;
}

export interface SessionPolicy {
	ttlDays: number;
	maxDays: number;
}

export interface ValidatedSession {
	session: Session;
	user: User;
	/** True when lastVerifiedAt moved, so the cookie's expiry should be extended too. */
	renewed: boolean;
}

function randomString(bytes: number): string {
	return encodeBase32LowerCaseNoPadding(crypto.getRandomValues(new Uint8Array(bytes)));
}

function hashSecret(secret: string): Uint8Array {
	return sha256(new TextEncoder().encode(secret));
}

export function expiresAt(session: Pick<Session, 'createdAt' | 'lastVerifiedAt'>, policy: SessionPolicy): Date {
	const sliding = session.lastVerifiedAt.getTime() + policy.ttlDays * DAY_MS;
	const absolute = session.createdAt.getTime() + policy.maxDays * DAY_MS;
	return new Date(Math.min(sliding, absolute));
}

/**
 * The sessions of one database, with the cache of recently proved ones and the lifetime policy:
 * one per process (the services make it), so that every path that proves or ends a session sees
 * the same cache.
 */
export class Sessions {
	/**
	 * Every authenticated request runs this query: built once (not per request) and sent as a named
	 * statement, which the driver caches per connection.
	 */
	private readonly lookup;

	constructor(
		readonly db: Db,
		readonly policy: SessionPolicy,
		readonly cache: SessionCache
	) {
		this.lookup = db
			.select({ session: sessions, username: users.username })
			.from(sessions)
			.innerJoin(users, eq(users.id, sessions.userId))
			.where(eq(sessions.id, sql.placeholder('id')))
			.limit(1)
			.prepare('duet_session_lookup');
	}

	expiresAt(session: Pick<Session, 'createdAt' | 'lastVerifiedAt'>): Date {
		return expiresAt(session, this.policy);
	}

	/** Creates a session and returns it with the token for the cookie (the token is never stored). */
	async create(userId: string, now = new Date(), device: SessionDevice = {}) {
		// 120-bit id to find the row, 160-bit secret to prove possession.
		const id = randomString(15);
		const secret = randomString(20);
		const session: Session = { id, userId, createdAt: now, lastVerifiedAt: now };
		await this.db.insert(sessions).values({
			...session,
			secretHash: hashSecret(secret),
			userAgent: device.userAgent ?? null,
			address: device.address ?? null
		});
		return { session, token: `${id}.${secret}` };
	}

	/** `address`, when given, is stored at a renewal: the sessions list shows where it was last used. */
	async validate(token: string, now = new Date(), address?: string): Promise<ValidatedSession | null> {
		let found = await this.find(token);
		if (!found) return null;
		const needsWrite = (s: Session) =>
			now.getTime() >= this.expiresAt(s).getTime() || now.getTime() - s.lastVerifiedAt.getTime() >= ACTIVITY_CHECK_INTERVAL_MS;
		if (needsWrite(found.session)) {
			// A cached row may predate a renewal elsewhere: decide on the row as it is now.
			this.cache.forget(found.session.id);
			found = await this.find(token);
			if (!found) return null;
		}
		const { session, username } = found;
		const id = session.id;
		if (now.getTime() >= this.expiresAt(session).getTime()) {
			await this.invalidate(id);
			return null;
		}
		let renewed = false;
		if (now.getTime() - session.lastVerifiedAt.getTime() >= ACTIVITY_CHECK_INTERVAL_MS) {
			session.lastVerifiedAt = now;
			await this.db
				.update(sessions)
				.set({ lastVerifiedAt: now, ...(address ? { address } : {}) })
				.where(eq(sessions.id, id));
			this.cache.forget(id);
			renewed = true;
		}
		return { session, user: { id: session.userId, username }, renewed };
	}

	/**
	 * validate without its side effects: the session when it is valid and needs nothing done (no
	 * renewal, no expiry), else null, and the caller falls back to the full validation.
	 */
	async peek(token: string, now = new Date()): Promise<ValidatedSession | null> {
		const found = await this.find(token);
		if (!found) return null;
		const { session, username } = found;
		if (now.getTime() >= this.expiresAt(session).getTime()) return null;
		if (now.getTime() - session.lastVerifiedAt.getTime() >= ACTIVITY_CHECK_INTERVAL_MS) return null;
		return { session, user: { id: session.userId, username }, renewed: false };
	}

	async invalidate(sessionId: string): Promise<void> {
		await this.db.delete(sessions).where(eq(sessions.id, sessionId));
		this.cache.forget(sessionId);
	}

	/** Ends every session of the user; returns the ids of those that existed. */
	async invalidateUser(userId: string): Promise<string[]> {
		const removed = await this.db.delete(sessions).where(eq(sessions.userId, userId)).returning({ id: sessions.id });
		this.cache.forgetUser(userId);
		return removed.map((r) => r.id);
	}

	/** Every live session of the user; expired rows wait for their next use to be deleted, unseen. */
	async listUser(userId: string, now = new Date()): Promise<SessionRecord[]> {
		const rows = await this.db
			.select({
				id: sessions.id,
				userId: sessions.userId,
				createdAt: sessions.createdAt,
				lastVerifiedAt: sessions.lastVerifiedAt,
				userAgent: sessions.userAgent,
				address: sessions.address
			})
			.from(sessions)
			.where(eq(sessions.userId, userId));
		return rows.filter((r) => now.getTime() < this.expiresAt(r).getTime());
	}

	/** Ends one session if it is the user's; false when the user has no such session. */
	async invalidateOwned(userId: string, sessionId: string): Promise<boolean> {
		const removed = await this.db
			.delete(sessions)
			.where(and(eq(sessions.id, sessionId), eq(sessions.userId, userId)))
			.returning({ id: sessions.id });
		this.cache.forget(sessionId);
		return removed.length > 0;
	}

	/** Ends every session of the user but one; returns the ids of those ended. */
	async invalidateOthers(userId: string, keepId: string): Promise<string[]> {
		const removed = await this.db
			.delete(sessions)
			.where(and(eq(sessions.userId, userId), ne(sessions.id, keepId)))
			.returning({ id: sessions.id });
		const ids = removed.map((r) => r.id);
		this.cache.forgetUser(userId, ids);
		return ids;
	}

	/** The token's session if the secret matches (expiry not checked). */
	private async find(token: string): Promise<{ session: Session; username: string } | null> {
		const parts = token.split('.');
		if (parts.length !== 2 || !parts[0] || !parts[1] || token.length > 200) return null;
		const [id, secret] = parts;
		let row = this.cache.get(id);
		if (!row) {
			const readSince = Date.now();
			const [found] = await this.lookup.execute({ id });
			if (!found) return null;
			row = { ...found.session, username: found.username };
			this.cache.set(id, row, readSince);
		}
		if (!constantTimeEqual(hashSecret(secret), row.secretHash)) return null;
		const { userId, createdAt, lastVerifiedAt } = row;
		return { session: { id, userId, createdAt, lastVerifiedAt }, username: row.username };
	}
}
