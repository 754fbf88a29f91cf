/**
 * The browser client, fetched once the page has hydrated. It carries Dexie, the sync engine,
 * the transports and the outbox, half of the app's JavaScript, and the server-rendered page
 * needs none of it to show or to hydrate: until it is there the page is what the server sent
 * (forms that post), as it was before the client started anyway.
 */
import type { User } from '$lib/types';
import type { DuetClient } from './client.svelte';

export function loadClient(user: User): Promise<DuetClient> {
	return import('./client.svelte').then(({ getClient }) => getClient(user));
}
