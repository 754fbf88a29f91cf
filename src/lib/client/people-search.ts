/**
 * "Start a chat" as you type: the username search waits for a pause, and only the answer to the
 * latest query is shown, so a slow early answer never overwrites a later one.
 */
import type { User } from '$lib/types';

export const PEOPLE_SEARCH_DELAY_MS = 200;

/** `show(null)` clears the results (empty box); `show([])` is "nobody found", failures included. */
export function peopleSearch(
	search: (query: string) => Promise<{ users: User[] }>,
	show: (users: User[] | null) => void,
	delayMs = PEOPLE_SEARCH_DELAY_MS
) {
	let timer: ReturnType<typeof setTimeout> | undefined;
	let latest = 0;
	return {
		input(value: string): void {
			clearTimeout(timer);
			const query = value.trim().toLowerCase();
			if (!query) {
				show(null);
				return;
			}
			timer = setTimeout(async () => {
				const ticket = ++latest;
				try {
					const { users } = await search(query);
					if (ticket === latest) show(users);
				} catch {
					if (ticket === latest) show([]);
				}
			}, delayMs);
		},
		cancel(): void {
			clearTimeout(timer);
		}
	};
}
