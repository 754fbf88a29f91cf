import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createPostgresDatabase } from '../../../tests/integration/harness';
import { openDatabase, type Database } from './db';
import { eq } from 'drizzle-orm';
import { sessions, users } from './db/schema';
import { createSession, invalidateSession, invalidateUserSessions, peekSessionToken, validateSessionToken } from './session';
import { SessionWatch } from './session-watch';

const HOUR = 3600_000;
const DAY = 24 * HOUR;
const policy = { ttlDays: 30, maxDays: 365 };

const engines = process.env.TEST_DATABASE_URL ? ['pglite', 'postgres'] : ['pglite'];

describe.each(engines)('sessions on %s', (engine) => {
	let database: Database;
	let userId: string;
	beforeAll(async () => {
		database = await openDatabase(engine === 'postgres' ? await createPostgresDatabase() : 'memory://', '');
		userId = crypto.randomUUID();
		await database.db.insert(users).values({ id: userId, username: `s_${userId.slice(0, 8)}`, passwordHash: 'x' });
	});
	afterAll(async () => {
		await database.close();
	});

	test('a token validates, and only its hash is stored', async () => {
		const { token, session } = await createSession(database.db, userId);
		const result = await validateSessionToken(database.db, token, policy);
		expect(result?.user.id).toBe(userId);
		const row = await database.db.query.sessions.findFirst({ where: (s, { eq }) => eq(s.id, session.id) });
		const secret = token.split('.')[1];
		expect(Buffer.from(row!.secretHash).toString()).not.toContain(secret);
		expect(row!.secretHash.byteLength).toBe(32);
	});

	test('a wrong secret for a real id is rejected', async () => {
		const { token } = await createSession(database.db, userId);
		const [id, secret] = token.split('.');
		const forged = `${id}.${secret.slice(0, -1)}${secret.endsWith('a') ? 'b' : 'a'}`;
		expect(await validateSessionToken(database.db, forged, policy)).toBeNull();
		expect(await validateSessionToken(database.db, 'garbage', policy)).toBeNull();
		expect(await validateSessionToken(database.db, '.', policy)).toBeNull();
	});

	test('sliding expiry: use renews the session, inactivity past the TTL ends it', async () => {
		const start = new Date('2030-01-01T00:00:00Z');
		const { token } = await createSession(database.db, userId, start);
		// Within the first hour nothing is written.
		const early = await validateSessionToken(database.db, token, policy, new Date(start.getTime() + 10 * 60_000));
		expect(early?.renewed).toBe(false);
		// 29 days later it is still valid and gets renewed…
		const day29 = new Date(start.getTime() + 29 * DAY);
		const renewed = await validateSessionToken(database.db, token, policy, day29);
		expect(renewed?.renewed).toBe(true);
		// …so 29 days after that (58 days after creation) it is still valid,
		expect(await validateSessionToken(database.db, token, policy, new Date(day29.getTime() + 29 * DAY))).not.toBeNull();
		// but 31 idle days after the last use it has expired and is deleted.
		const lastUse = day29.getTime() + 29 * DAY;
		expect(await validateSessionToken(database.db, token, policy, new Date(lastUse + 31 * DAY))).toBeNull();
		expect(await validateSessionToken(database.db, token, policy, new Date(lastUse + DAY))).toBeNull();
	});

	test('absolute lifetime: even a session in daily use ends after SESSION_MAX_DAYS', async () => {
		const start = new Date('2031-01-01T00:00:00Z');
		const short = { ttlDays: 30, maxDays: 60 };
		const { token } = await createSession(database.db, userId, start);
		for (let day = 20; day < 60; day += 20) {
			expect(await validateSessionToken(database.db, token, short, new Date(start.getTime() + day * DAY))).not.toBeNull();
		}
		expect(await validateSessionToken(database.db, token, short, new Date(start.getTime() + 60 * DAY + HOUR))).toBeNull();
	});

	test('invalidation: one session, or all of a user', async () => {
		const a = await createSession(database.db, userId);
		const b = await createSession(database.db, userId);
		await invalidateSession(database.db, a.session.id);
		expect(await validateSessionToken(database.db, a.token, policy)).toBeNull();
		expect(await validateSessionToken(database.db, b.token, policy)).not.toBeNull();
		await invalidateUserSessions(database.db, userId);
		expect(await validateSessionToken(database.db, b.token, policy)).toBeNull();
	});

	test('a cached session still proves its secret, and one deleted behind the cache is found by the session watch', async () => {
		const watch = new SessionWatch(database.db, policy, 60_000);
		const deleted = await createSession(database.db, userId);
		const kept = await createSession(database.db, userId);
		const ended: string[] = [];
		watch.add(deleted.session.id, () => ended.push('deleted'));
		watch.add(kept.session.id, () => ended.push('kept'));
		expect(await peekSessionToken(database.db, deleted.token, policy)).not.toBeNull(); // now cached
		const [id, secret] = deleted.token.split('.');
		expect(await peekSessionToken(database.db, `${id}.${secret.slice(0, -1)}${secret.endsWith('a') ? 'b' : 'a'}`, policy)).toBeNull();
		// Deleted straight in the database (another tool, an expiry sweep): the cache does not know,
		await database.db.delete(sessions).where(eq(sessions.id, deleted.session.id));
		expect(await peekSessionToken(database.db, deleted.token, policy)).not.toBeNull();
		// and the watch, which reads past it, ends its connections and makes every path refuse it.
		await watch.check();
		expect(ended).toEqual(['deleted']);
		expect(await peekSessionToken(database.db, deleted.token, policy)).toBeNull();
		expect(await validateSessionToken(database.db, deleted.token, policy)).toBeNull();
		// Expiry counts as ending too (here: a check run a year from now).
		await watch.check(new Date(Date.now() + 400 * DAY));
		expect(ended).toEqual(['deleted', 'kept']);
		watch.close();
	});
});
