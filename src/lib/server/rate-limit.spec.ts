import { describe, expect, test } from 'vitest';
import { RefillingTokenBucket, Throttler } from './rate-limit';

describe('RefillingTokenBucket', () => {
	test('allows a burst of max, then refuses with the wait until the next token', () => {
		const bucket = new RefillingTokenBucket<string>(3, 2000);
		const t = 1_000_000;
		expect([bucket.consume('a', 1, t), bucket.consume('a', 1, t), bucket.consume('a', 1, t)]).toEqual([0, 0, 0]);
		expect(bucket.consume('a', 1, t)).toBe(2);
		expect(bucket.consume('b', 1, t)).toBe(0); // keys are independent
		expect(bucket.consume('a', 1, t + 2000)).toBe(0); // one token refilled
		expect(bucket.consume('a', 1, t + 2000)).toBeGreaterThan(0);
	});

	test('never refills past max', () => {
		const bucket = new RefillingTokenBucket<string>(2, 1000);
		bucket.consume('a', 1, 0);
		const later = 1_000_000;
		expect([bucket.consume('a', 1, later), bucket.consume('a', 1, later), bucket.consume('a', 1, later)]).toEqual([0, 0, 1]);
	});
});

describe('Throttler', () => {
	test('waits grow with consecutive failures and reset on success', () => {
		const throttler = new Throttler<string>([0, 1, 2, 4]);
		const t = 0;
		expect(throttler.check('u', t)).toBe(0);
		throttler.recordFailure('u', t);
		expect(throttler.check('u', t)).toBe(0); // the first failure costs nothing
		throttler.recordFailure('u', t);
		expect(throttler.check('u', t)).toBe(1);
		throttler.recordFailure('u', t);
		expect(throttler.check('u', t)).toBe(2);
		expect(throttler.check('u', t + 2000)).toBe(0);
		throttler.recordFailure('u', t);
		throttler.recordFailure('u', t);
		expect(throttler.check('u', t)).toBe(4); // capped at the last step
		throttler.reset('u');
		expect(throttler.check('u', t)).toBe(0);
	});
});
