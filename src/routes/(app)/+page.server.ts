import { redirect } from '@sveltejs/kit';
import { failWith } from '$lib/server/form';
import { endSession } from '$lib/server/signin';
import type { Actions, PageServerLoad } from './$types';

export const load: PageServerLoad = ({ locals }) => {
	if (!locals.user) redirect(302, '/login');
};

export const actions: Actions = {
	/** Start (or reopen) a chat by username; the list's "Chat" buttons post here. */
	open: async (event) => {
		const user = event.locals.user;
		if (!user) redirect(303, '/login');
		const username = String((await event.request.formData()).get('username') ?? '')
			.trim()
			.toLowerCase();
		let id: string;
		try {
			id = (await event.locals.services.chat.openConversation(user.id, username)).id;
		} catch (error) {
			return failWith(error, { username });
		}
		redirect(303, `/c/${id}`);
	},
	logout: async (event) => {
		await endSession(event.locals.services, event);
		redirect(303, '/login');
	},
	logoutEverywhere: async (event) => {
		await endSession(event.locals.services, event, true);
		redirect(303, '/login');
	}
};
