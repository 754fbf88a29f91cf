import { redirect } from '@sveltejs/kit';
import { browser } from '$app/environment';
import { isOfflineData, lastUser, rememberUser } from '$lib/client/offline';
import { conversationList } from '$lib/client/queries';
import type { LayoutLoad } from './$types';

/**
 * Online: the server's data as is (and the user remembered for offline starts). Offline (the
 * service worker's stand-in): the last signed-in user's conversations from IndexedDB.
 */
export const load: LayoutLoad = async ({ data }) => {
	const server = data as typeof data | { offline: true };
	if (!isOfflineData(server)) {
		if (browser) rememberUser(server.user);
		return server;
	}
	const user = lastUser();
	if (!user) redirect(307, '/login');
	const { getClient } = await import('$lib/client/client.svelte');
	const conversations = await conversationList(getClient(user).db);
	return { user, conversations, search: null, offline: true as const };
};
