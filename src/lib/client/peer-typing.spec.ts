import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PeerTyping } from './peer-typing.svelte';

describe('peer typing indicator', () => {
	beforeEach(() => vi.useFakeTimers());
	afterEach(() => vi.useRealTimers());

	it('shows for a while after a typing event, longer with another one, and stops on a message', () => {
		const typing = new PeerTyping(4_000);
		typing.started('a');
		expect('a' in typing.until).toBe(true);
		vi.advanceTimersByTime(3_000);
		typing.started('a');
		vi.advanceTimersByTime(3_000);
		expect('a' in typing.until).toBe(true);
		vi.advanceTimersByTime(1_000);
		expect('a' in typing.until).toBe(false);

		typing.started('b');
		typing.stopped('b');
		expect(typing.until).toEqual({});
	});

	it('fires no timer after dispose', () => {
		const typing = new PeerTyping(4_000);
		typing.started('a');
		typing.dispose();
		vi.advanceTimersByTime(10_000);
		expect('a' in typing.until).toBe(true);
	});
});
