import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createPostgresDatabase } from '../../../tests/integration/harness';
import { openDatabase, type Database } from './db';
import { eq } from 'drizzle-orm';
import { sessions as sessionRows, users } from './db/schema';
import { Sessions, type SessionPolicy } from './session';
import { SessionCache } from './session-cache';
import { SessionWatch } from './session-watch';

const HOUR = 3600_000;
const DAY = 24 * HOUR;
const policy = { ttlDays: 30, maxDays: 365 };

const engines = process.env.TEST_DATABASE_URL ? ['pglite', 'postgres'] : ['pglite'];

describe.each(engines)('sessions on %s', (engine) => {
	let database: Database;
	let userId: string;
	let sessions: Sessions;
	/** Each test that looks at the cache gets one of its own, as a process would. */
	const withCache = (cacheMs = 30_000, p: SessionPolicy = policy) => new Sessions(database.db, p, new SessionCache(cacheMs));
	beforeAll(async () => {
		database = await openDatabase(engine === 'postgres' ? await createPostgresDatabase() : 'memory://', '');
		userId = crypto.randomUUID();
		await database.db.insert(users).values({ id: userId, username: `s_${userId.slice(0, 8)}`, passwordHash: 'x' });
		sessions = withCache();
	});
	afterAll(async () => {
		await database.close();
	});

	const forge = (token: string) => {
		const [id, secret] = token.split('.');
		return `${id}.${secret.slice(0, -1)}${secret.endsWith('a') ? 'b' : 'a'}`;
	};

	test('a token validates, and only its hash is stored', async () => {
		const { token, session } = await sessions.create(userId);
		const result = await sessions.validate(token);
		expect(result?.user.id).toBe(userId);
		const row = await database.db.query.sessions.findFirst({ where: (s, { eq }) => eq(s.id, session.id) });
		const secret = token.split('.')[1];
		expect(Buffer.from(row!.secretHash).toString()).not.toContain(secret);
		expect(row!.secretHash.byteLength).toBe(32);
	});

	test('a wrong secret for a real id is rejected', async () => {
		const { token } = await sessions.create(userId);
		expect(await sessions.validate(forge(token))).toBeNull();
		expect(await sessions.validate('garbage')).toBeNull();
		expect(await sessions.validate('.')).toBeNull();
	});

	test('sliding expiry: use renews the session, inactivity past the TTL ends it', async () => {
		const start = new Date('2030-01-01T00:00:00Z');
		const { token } = await sessions.create(userId, start);
		// Within the first hour nothing is written.
		const early = await sessions.validate(token, new Date(start.getTime() + 10 * 60_000));
		expect(early?.renewed).toBe(false);
		// 29 days later it is still valid and gets renewed…
		const day29 = new Date(start.getTime() + 29 * DAY);
		const renewed = await sessions.validate(token, day29);
		expect(renewed?.renewed).toBe(true);
		// …so 29 days after that (58 days after creation) it is still valid,
		expect(await sessions.validate(token, new Date(day29.getTime() + 29 * DAY))).not.toBeNull();
		// but 31 idle days after the last use it has expired and is deleted.
		const lastUse = day29.getTime() + 29 * DAY;
		expect(await sessions.validate(token, new Date(lastUse + 31 * DAY))).toBeNull();
		expect(await sessions.validate(token, new Date(lastUse + DAY))).toBeNull();
	});

	test('absolute lifetime: even a session in daily use ends after SESSION_MAX_DAYS', async () => {
		const start = new Date('2031-01-01T00:00:00Z');
		const short = withCache(30_000, { ttlDays: 30, maxDays: 60 });
		const { token, session } = await short.create(userId, start);
		expect(short.expiresAt(session)).toEqual(new Date(start.getTime() + 30 * DAY));
		for (let day = 20; day < 60; day += 20) {
			expect(await short.validate(token, new Date(start.getTime() + day * DAY))).not.toBeNull();
		}
		expect(await short.validate(token, new Date(start.getTime() + 60 * DAY + HOUR))).toBeNull();
	});

	test('invalidation: one session, or all of a user', async () => {
		const a = await sessions.create(userId);
		const b = await sessions.create(userId);
		await sessions.invalidate(a.session.id);
		expect(await sessions.validate(a.token)).toBeNull();
		expect(await sessions.validate(b.token)).not.toBeNull();
		const removed = await sessions.invalidateUser(userId);
		expect(removed).toContain(b.session.id);
		expect(removed).not.toContain(a.session.id);
		expect(await sessions.validate(b.token)).toBeNull();
	});

	test('the device at sign-in, the address at each renewal; only the owner ends a session by id', async () => {
		const otherId = crypto.randomUUID();
		await database.db.insert(users).values({ id: otherId, username: `o_${otherId.slice(0, 8)}`, passwordHash: 'x' });
		const start = new Date('2033-01-01T00:00:00Z');
		const phone = await sessions.create(otherId, start, { userAgent: 'Phone/1', address: '203.0.113.7' });
		const laptop = await sessions.create(otherId, start, { userAgent: 'Laptop/1', address: '198.51.100.1' });
		const tablet = await sessions.create(otherId, start);
		expect(await sessions.validate(phone.token, new Date(start.getTime() + 2 * HOUR), '192.0.2.200')).not.toBeNull();
		const listed = await sessions.listUser(otherId);
		expect(listed.find((s) => s.id === phone.session.id)).toMatchObject({ userAgent: 'Phone/1', address: '192.0.2.200' });
		expect(listed.find((s) => s.id === laptop.session.id)).toMatchObject({ userAgent: 'Laptop/1', address: '198.51.100.1' });
		expect(listed.find((s) => s.id === tablet.session.id)).toMatchObject({ userAgent: null, address: null });

		expect(await sessions.invalidateOwned(userId, laptop.session.id)).toBe(false);
		expect(await sessions.validate(laptop.token)).not.toBeNull();
		expect(await sessions.invalidateOwned(otherId, laptop.session.id)).toBe(true);
		expect(await sessions.validate(laptop.token)).toBeNull();
		expect(await sessions.invalidateOthers(otherId, phone.session.id)).toEqual([tablet.session.id]);
		expect((await sessions.listUser(otherId)).map((s) => s.id)).toEqual([phone.session.id]);
		// Past its lifetime a session is no longer listed, though its row is still there.
		expect(await sessions.listUser(otherId, new Date(start.getTime() + 40 * DAY))).toEqual([]);
	});

	test('peek answers only a session that needs nothing done, and writes nothing', async () => {
		const start = new Date('2032-01-01T00:00:00Z');
		const { token, session } = await sessions.create(userId, start);
		expect((await sessions.peek(token, new Date(start.getTime() + 10 * 60_000)))?.session.id).toBe(session.id);
		// Due for renewal: left to validate, and the row is untouched.
		expect(await sessions.peek(token, new Date(start.getTime() + 2 * HOUR))).toBeNull();
		const [row] = await database.db.select().from(sessionRows).where(eq(sessionRows.id, session.id));
		expect(row.lastVerifiedAt).toEqual(start);
		// Expired: refused, but not deleted (that is validate's to do).
		expect(await sessions.peek(token, new Date(start.getTime() + 31 * DAY))).toBeNull();
		expect(await database.db.select().from(sessionRows).where(eq(sessionRows.id, session.id))).toHaveLength(1);
		expect(await sessions.peek(forge(token), new Date(start.getTime() + 10 * 60_000))).toBeNull();
	});

	test('the cache passed in is the one proved sessions go to, and the one endings clear', async () => {
		const cache = new SessionCache(60_000);
		const mine = new Sessions(database.db, policy, cache);
		const { token, session } = await mine.create(userId);
		expect(cache.get(session.id)).toBeUndefined();
		await mine.validate(token);
		expect(cache.get(session.id)?.userId).toBe(userId);
		// Another process (another cache) ends the session: this one still trusts its entry…
		await withCache().invalidate(session.id);
		expect(await mine.peek(token)).not.toBeNull();
		// …until the bus's revoked note reaches it, which services.ts turns into forgetUser.
		cache.forgetUser(userId, [session.id]);
		expect(await mine.peek(token)).toBeNull();
		const second = await mine.create(userId);
		await mine.validate(second.token);
		await mine.invalidateUser(userId);
		expect(cache.get(second.session.id)).toBeUndefined();
	});

	test('with a cache lifetime of 0 every lookup reads the database', async () => {
		const uncached = withCache(0);
		const { token, session } = await uncached.create(userId);
		expect(await uncached.peek(token)).not.toBeNull();
		await database.db.delete(sessionRows).where(eq(sessionRows.id, session.id));
		expect(await uncached.peek(token)).toBeNull();
		expect(uncached.cache.size).toBe(0);
	});

	test('a cached session still proves its secret, and one deleted behind the cache is found by the session watch', async () => {
		const cached = withCache();
		const watch = new SessionWatch(cached, 60_000);
		const deleted = await cached.create(userId);
		const kept = await cached.create(userId);
		const ended: string[] = [];
		watch.add(deleted.session.id, () => ended.push('deleted'));
		watch.add(kept.session.id, () => ended.push('kept'));
		expect(await cached.peek(deleted.token)).not.toBeNull(); // now cached
		expect(await cached.peek(forge(deleted.token))).toBeNull();
		// Deleted straight in the database (another tool, an expiry sweep): the cache does not know,
		await database.db.delete(sessionRows).where(eq(sessionRows.id, deleted.session.id));
		expect(await cached.peek(deleted.token)).not.toBeNull();
		// and the watch, which reads past it, ends its connections and makes every path refuse it.
		await watch.check();
		expect(ended).toEqual(['deleted']);
		expect(await cached.peek(deleted.token)).toBeNull();
		expect(await cached.validate(deleted.token)).toBeNull();
		// Expiry counts as ending too (here: a check run a year from now).
		await watch.check(new Date(Date.now() + 400 * DAY));
		expect(ended).toEqual(['deleted', 'kept']);
		watch.close();
	});
});
