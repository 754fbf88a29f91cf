import { describe, expect, test } from 'vitest';
import { PoolUse } from './pool-use';

describe('PoolUse', () => {
	test('counts work with a connection and work waiting for one, as each says when asked, until released', () => {
		const use = new PoolUse(2);
		let firstHeld = false;
		const releaseFirst = use.track(() => firstHeld);
		const releaseSecond = use.track(() => true);
		expect(use.snapshot()).toEqual({ inUse: 1, waiting: 1, size: 2 });
		firstHeld = true;
		expect(use.snapshot()).toEqual({ inUse: 2, waiting: 0, size: 2 });
		releaseFirst();
		releaseSecond();
		expect(use.snapshot()).toEqual({ inUse: 0, waiting: 0, size: 2 });
	});

	test('statements pipelined on the connections count no more than the pool holds', () => {
		const use = new PoolUse(2);
		for (let i = 0; i < 5; i++) use.track(() => true);
		expect(use.snapshot()).toEqual({ inUse: 2, waiting: 0, size: 2 });
	});
});
