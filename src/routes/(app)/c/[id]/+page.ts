import { error } from '@sveltejs/kit';
import { isOfflineData } from '$lib/client/offline';
import type { Message } from '$lib/types';
import type { PageLoad } from './$types';

/**
 * Offline (the service worker's stand-in for the server's data): the conversation from IndexedDB.
 * Messages are left empty on purpose: the page shows the local database's live rows whenever it
 * has any, and seeding it with its own pending rows would be wrong.
 */
export const load: PageLoad = async ({ data, params, parent }) => {
	const server = data as typeof data | { offline: true };
	if (!isOfflineData(server)) return server;
	const { user } = await parent();
	const { getClient } = await import('$lib/client/client.svelte');
	const conversation = await getClient(user).db.conversations.get(params.id);
	if (!conversation) error(404, 'This conversation is not stored on this device.');
	// Whether the server has older rows is unknown here: the local rows say it (history.canLoadOlder).
	return { conversation, messages: [] as Message[], hasMore: false, formId: crypto.randomUUID() };
};
