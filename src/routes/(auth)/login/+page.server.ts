import { redirect } from '@sveltejs/kit';
import { failWith, readCredentials } from '$lib/server/form';
import { clientAddress } from '$lib/server/http';
import { services } from '$lib/server/services';
import { startSession } from '$lib/server/signin';
import type { Actions, PageServerLoad } from './$types';

export const load: PageServerLoad = ({ locals }) => {
	if (locals.user) redirect(302, '/');
};

export const actions: Actions = {
	default: async (event) => {
		const data = await event.request.formData();
		const username = String(data.get('username') ?? '');
		try {
			const user = await services().auth.login(readCredentials(data), clientAddress(event));
			await startSession(event, user);
		} catch (error) {
			return failWith(error, { username });
		}
		redirect(303, '/');
	}
};
