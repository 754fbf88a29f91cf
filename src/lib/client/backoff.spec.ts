// @vitest-environment node
import { describe, expect, it } from 'vitest';
import { backoffCeiling, DEFAULT_BACKOFF, fullJitter } from './backoff';

describe('full-jitter backoff', () => {
	it('doubles from 1 s and stops at the 30 s cap', () => {
		expect([0, 1, 2, 3, 4, 5, 6, 10, 2000].map((n) => backoffCeiling(n))).toEqual([
			1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000, 30_000
		]);
	});

	it('spans the whole range [0, ceiling) with the random draw', () => {
		expect(fullJitter(3, DEFAULT_BACKOFF, () => 0)).toBe(0);
		expect(fullJitter(3, DEFAULT_BACKOFF, () => 0.5)).toBe(4_000);
		expect(fullJitter(3, DEFAULT_BACKOFF, () => 0.999999)).toBe(7_999);
		expect(fullJitter(50, DEFAULT_BACKOFF, () => 0.999999)).toBeLessThan(30_000);
	});

	it('spreads real random waits out instead of synchronising clients', () => {
		const waits = Array.from({ length: 500 }, () => fullJitter(4));
		for (const wait of waits) {
			expect(wait).toBeGreaterThanOrEqual(0);
			expect(wait).toBeLessThan(16_000);
		}
		expect(new Set(waits).size).toBeGreaterThan(400);
		const mean = waits.reduce((a, b) => a + b, 0) / waits.length;
		expect(mean).toBeGreaterThan(6_000);
		expect(mean).toBeLessThan(10_000);
	});
});
