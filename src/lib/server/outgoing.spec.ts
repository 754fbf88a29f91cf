import { describe, expect, test } from 'vitest';
import { OUTGOING_LIMIT_BYTES, Outgoing } from './outgoing';

function gate(limit = 1000) {
	let queued = 0;
	const overflows: number[] = [];
	const outgoing = new Outgoing(
		() => queued,
		(bytes) => overflows.push(bytes),
		limit
	);
	return {
		outgoing,
		overflows,
		set: (bytes: number) => (queued = bytes)
	};
}

describe('Outgoing', () => {
	test('admits writes up to the limit, counting what is already queued', () => {
		const { outgoing, overflows, set } = gate();
		set(600);
		expect(outgoing.admit(400)).toBe(true);
		set(1000);
		expect(outgoing.admit(0)).toBe(true);
		expect(overflows).toEqual([]);
		expect(outgoing.closed).toBe(false);
	});

	test('the first write past the limit is refused and reported once, with the bytes it would have queued', () => {
		const { outgoing, overflows, set } = gate();
		set(900);
		expect(outgoing.admit(101)).toBe(false);
		expect(overflows).toEqual([1001]);
		expect(outgoing.closed).toBe(true);
	});

	test('once over, every later write is refused without another report, even after draining', () => {
		const { outgoing, overflows, set } = gate();
		set(2000);
		outgoing.admit(1);
		set(0);
		expect(outgoing.admit(1)).toBe(false);
		expect(overflows).toHaveLength(1);
	});

	test('one frame of any size counts: a single frame larger than the limit is refused on an empty queue', () => {
		const { outgoing, overflows } = gate();
		expect(outgoing.admit(1001)).toBe(false);
		expect(overflows).toEqual([1001]);
	});

	test('backlogged from half the limit, drained below a quarter', () => {
		const { outgoing, set } = gate();
		set(499);
		expect(outgoing.backlogged()).toBe(false);
		set(500);
		expect(outgoing.backlogged()).toBe(true);
		expect(outgoing.drained()).toBe(false);
		set(250);
		expect(outgoing.backlogged()).toBe(false);
		expect(outgoing.drained()).toBe(false);
		set(249);
		expect(outgoing.drained()).toBe(true);
	});

	test('the limit is one mebibyte unless told otherwise', () => {
		expect(OUTGOING_LIMIT_BYTES).toBe(1024 * 1024);
		expect(
			new Outgoing(
				() => 0,
				() => {}
			).limit
		).toBe(OUTGOING_LIMIT_BYTES);
	});
});
