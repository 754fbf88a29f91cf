import { describe, expect, test } from 'vitest';
import { SessionCache, type CachedSessionRow } from './session-cache';

const row = (userId: string): CachedSessionRow => ({
	userId,
	username: userId,
	secretHash: new Uint8Array(32),
	createdAt: new Date(0),
	lastVerifiedAt: new Date(0)
});

describe('SessionCache', () => {
	test('an entry is served until it is ttl old, then read again', () => {
		const cache = new SessionCache(1000);
		cache.set('s1', row('u1'), 0, 0);
		expect(cache.get('s1', 999)?.userId).toBe('u1');
		expect(cache.get('s1', 1000)).toBeUndefined();
		expect(cache.size).toBe(0);
	});

	test('forgetting one session, some of a user, or all of a user', () => {
		const cache = new SessionCache(60_000);
		cache.set('a1', row('a'), 0, 0);
		cache.set('a2', row('a'), 0, 0);
		cache.set('a3', row('a'), 0, 0);
		cache.set('b1', row('b'), 0, 0);
		cache.forget('a1', 1);
		expect(cache.get('a1', 2)).toBeUndefined();
		cache.forgetUser('a', ['a2', 'b1'], 2);
		expect(cache.get('a2', 3)).toBeUndefined();
		expect(cache.get('a3', 3)).toBeDefined();
		cache.forgetUser('a', 'all', 3);
		expect(cache.get('a3', 4)).toBeUndefined();
		expect(cache.get('b1', 4)).toBeUndefined(); // forgotten by id, whichever user was named
	});

	test('a lookup that began before a logout cannot put the ended session back', () => {
		const cache = new SessionCache(60_000);
		// The row is read at t=10; the session is deleted and forgotten at t=15; the read lands at t=20.
		cache.forget('s1', 15);
		cache.set('s1', row('u1'), 10, 20);
		expect(cache.get('s1', 21)).toBeUndefined();
		cache.forgetUser('u2', 'all', 15);
		cache.set('s2', row('u2'), 10, 20);
		expect(cache.get('s2', 21)).toBeUndefined();
		// A lookup that began after the forget may store what it read (a new sign-in, say).
		cache.set('s3', row('u2'), 16, 20);
		expect(cache.get('s3', 21)).toBeDefined();
	});

	test('stays within its bound, dropping the oldest entry first', () => {
		const cache = new SessionCache(60_000, 3);
		for (let i = 0; i < 5; i++) cache.set(`s${i}`, row('u'), i, i);
		expect(cache.size).toBe(3);
		expect(cache.get('s0', 10)).toBeUndefined();
		expect(cache.get('s1', 10)).toBeUndefined();
		expect(cache.get('s4', 10)).toBeDefined();
		cache.forgetUser('u', 'all', 11);
		expect(cache.size).toBe(0);
	});

	test('a ttl of 0 turns the cache off', () => {
		const cache = new SessionCache(0);
		cache.set('s1', row('u1'), 0, 0);
		expect(cache.get('s1', 0)).toBeUndefined();
	});
});
