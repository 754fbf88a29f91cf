import { describe, expect, it } from 'vitest';
import { ManualClock } from './test-db';
import { typingAnnouncer } from './typing';

describe('typing announcer', () => {
	it('announces at most once per interval, never for blank text, and at once after a reset', () => {
		const clock = new ManualClock();
		const heard: string[] = [];
		const typing = typingAnnouncer((id) => heard.push(id), 2_000, clock.now);
		typing.input('c', '   ');
		expect(heard).toEqual([]);
		typing.input('c', 'h');
		clock.advance(1_000);
		typing.input('c', 'he');
		expect(heard).toEqual(['c']);
		clock.advance(1_001);
		typing.input('c', 'hel');
		expect(heard).toEqual(['c', 'c']);
		typing.reset();
		typing.input('c', 'next');
		expect(heard).toEqual(['c', 'c', 'c']);
	});
});
