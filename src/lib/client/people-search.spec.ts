import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { User } from '$lib/types';
import { peopleSearch } from './people-search';

const user = (username: string): User => ({ id: username, username });

describe('people search as you type', () => {
	beforeEach(() => vi.useFakeTimers());
	afterEach(() => vi.useRealTimers());

	it('asks once typing pauses, lower-cased, and clears on an empty box', async () => {
		const asked: string[] = [];
		const shown: (User[] | null)[] = [];
		const people = peopleSearch(
			async (q) => (asked.push(q), { users: [user(q)] }),
			(u) => shown.push(u),
			200
		);
		people.input('A');
		people.input('Al');
		await vi.advanceTimersByTimeAsync(200);
		expect(asked).toEqual(['al']);
		expect(shown).toEqual([[user('al')]]);
		people.input('  ');
		expect(shown.at(-1)).toBeNull();
	});

	it('shows only the latest answer, and a failure as nobody found', async () => {
		const answers = new Map<string, (users: User[]) => void>();
		const shown: (User[] | null)[] = [];
		const people = peopleSearch(
			(q) => (q === 'bad' ? Promise.reject(new Error('offline')) : new Promise((resolve) => answers.set(q, (users) => resolve({ users })))),
			(u) => shown.push(u),
			200
		);
		people.input('a');
		await vi.advanceTimersByTimeAsync(200);
		people.input('ab');
		await vi.advanceTimersByTimeAsync(200);
		answers.get('ab')!([user('ab')]);
		answers.get('a')!([user('a')]);
		await vi.advanceTimersByTimeAsync(0);
		expect(shown).toEqual([[user('ab')]]);
		people.input('bad');
		await vi.advanceTimersByTimeAsync(200);
		expect(shown.at(-1)).toEqual([]);
	});
});
