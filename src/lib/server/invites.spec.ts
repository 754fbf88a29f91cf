import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { AppError } from '$lib/errors';
import { openDatabase, type Database } from './db';
import { users } from './db/schema';
import { createInvite, INVITE_REFUSED, spendInvite, UserInvites } from './invites';
import { tokenHash } from './secret-token';

const HOUR = 3600_000;

describe('invite codes', () => {
	let database: Database;
	let userId: string;
	beforeAll(async () => {
		database = await openDatabase('memory://', '');
		userId = crypto.randomUUID();
		await database.db.insert(users).values({ id: userId, username: 'invitee', passwordHash: 'x' });
	});
	afterAll(() => database.close());

	const refusal = (promise: Promise<unknown>) =>
		promise.then(
			() => 'spent',
			(error: AppError) => `${error.code}: ${error.message}`
		);

	test('a code is good until it expires, and only once', async () => {
		const now = new Date('2030-01-01T00:00:00Z');
		const first = await createInvite(database.db, { createdBy: null, ttlHours: 2, now });
		expect(first.expiresAt.getTime() - now.getTime()).toBe(2 * HOUR);
		expect(await refusal(spendInvite(database.db, first.code, userId, new Date(now.getTime() + 2 * HOUR)))).toBe(
			`forbidden: ${INVITE_REFUSED}`
		);
		const second = await createInvite(database.db, { createdBy: null, ttlHours: 2, now });
		// Typed by a person: case and spaces do not matter.
		expect(await refusal(spendInvite(database.db, ` ${second.code.toUpperCase()} `, userId, new Date(now.getTime() + HOUR)))).toBe('spent');
		expect(await refusal(spendInvite(database.db, second.code, userId, new Date(now.getTime() + HOUR)))).toBe(
			`forbidden: ${INVITE_REFUSED}`
		);
		expect(await refusal(spendInvite(database.db, 'not-a-code', userId, now))).toBe(`forbidden: ${INVITE_REFUSED}`);
	});

	test('codes are distinct and stored only as a hash', async () => {
		const codes = await Promise.all(Array.from({ length: 20 }, () => createInvite(database.db, { createdBy: null, ttlHours: 1 })));
		expect(new Set(codes.map((c) => c.code)).size).toBe(20);
		const stored = new Set((await database.db.query.invites.findMany()).map((row) => Buffer.from(row.codeHash).toString('hex')));
		// The row is found by SHA-256 of the code; the code itself is nowhere in it.
		for (const { code } of codes) expect(stored.has(Buffer.from(tokenHash(code)).toString('hex'))).toBe(true);
	});

	test('users make invites only when registration is by invite, and at most 20 a day under the rate limit', async () => {
		await expect(
			new UserInvites(database.db, { registration: 'open', inviteTtlHours: 1, rateLimit: true }).create(userId)
		).rejects.toMatchObject({
			code: 'forbidden'
		});
		const invites = new UserInvites(database.db, { registration: 'invite', inviteTtlHours: 1, rateLimit: true });
		for (let i = 0; i < 20; i++) await invites.create(userId);
		await expect(invites.create(userId)).rejects.toMatchObject({ code: 'rate_limited' });
	});
});
