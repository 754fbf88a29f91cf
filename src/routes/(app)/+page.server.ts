import { redirect } from '@sveltejs/kit';
import { endSession } from '$lib/server/signin';
import type { Actions, PageServerLoad } from './$types';

export const load: PageServerLoad = ({ locals }) => {
	if (!locals.user) redirect(302, '/login');
	return { user: locals.user };
};

export const actions: Actions = {
	logout: async (event) => {
		await endSession(event);
		redirect(303, '/login');
	},
	logoutEverywhere: async (event) => {
		await endSession(event, true);
		redirect(303, '/login');
	}
};
