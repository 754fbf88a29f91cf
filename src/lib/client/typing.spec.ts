import { describe, expect, it } from 'vitest';
import { ManualClock } from './test-db';
import { typingAnnouncer } from './typing';

function recorded() {
	const clock = new ManualClock();
	const heard: string[] = [];
	const typing = typingAnnouncer(
		{ started: (id) => heard.push(`typing ${id}`), stopped: (id) => heard.push(`stopped ${id}`) },
		2_000,
		clock.now
	);
	return { clock, heard, typing };
}

describe('typing announcer', () => {
	it('announces at most once per interval, never for blank text, and at once after a reset', () => {
		const { clock, heard, typing } = recorded();
		typing.input('c', '   ');
		expect(heard).toEqual([]);
		typing.input('c', 'h');
		clock.advance(1_000);
		typing.input('c', 'he');
		expect(heard).toEqual(['typing c']);
		clock.advance(1_001);
		typing.input('c', 'hel');
		expect(heard).toEqual(['typing c', 'typing c']);
		typing.reset();
		typing.input('c', 'next');
		expect(heard).toEqual(['typing c', 'typing c', 'typing c']);
	});

	it('right after a send (reset), typing again is announced within the interval of the last announcement', () => {
		const { clock, heard, typing } = recorded();
		typing.input('c', 'o');
		clock.advance(300);
		typing.input('c', 'ok');
		typing.reset();
		clock.advance(200);
		typing.input('c', 'a');
		expect(heard).toEqual(['typing c', 'typing c']);
		// A send ends the typing by itself: clearing the box after it is no news.
		typing.reset();
		typing.input('c', '');
		expect(heard).toEqual(['typing c', 'typing c']);
	});

	it('clearing the text stops the typing once, and the next keystroke starts it at once', () => {
		const { clock, heard, typing } = recorded();
		typing.input('c', 'hello');
		clock.advance(100);
		typing.input('c', '');
		typing.input('c', '');
		expect(heard).toEqual(['typing c', 'stopped c']);
		clock.advance(100);
		typing.input('c', 'h');
		expect(heard).toEqual(['typing c', 'stopped c', 'typing c']);
	});

	it('typing in another conversation stops it in the first', () => {
		const { heard, typing } = recorded();
		typing.input('a', 'hi');
		typing.input('b', 'hi');
		expect(heard).toEqual(['typing a', 'stopped a', 'typing b']);
	});

	it('blank text never announced says nothing', () => {
		const { heard, typing } = recorded();
		typing.input('c', '');
		typing.input('c', '  ');
		expect(heard).toEqual([]);
	});
});
