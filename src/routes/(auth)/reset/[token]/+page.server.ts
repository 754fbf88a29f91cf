import { redirect } from '@sveltejs/kit';
import { describeIssues, passwordResetSchema } from '$lib/schemas';
import { AppError } from '$lib/errors';
import { failWith } from '$lib/server/form';
import { startSession } from '$lib/server/signin';
import type { Actions, PageServerLoad } from './$types';

/** Said before a password is typed: a link that cannot work shows so at once. */
export const load: PageServerLoad = async ({ locals, params }) => {
	return { usable: await locals.services.accounts.resets.usable(params.token) };
};

export const actions: Actions = {
	default: async (event) => {
		try {
			const data = await event.request.formData();
			const parsed = passwordResetSchema.safeParse({
				password: String(data.get('password') ?? ''),
				confirm: String(data.get('confirm') ?? '')
			});
			if (!parsed.success) throw new AppError('bad_request', describeIssues(parsed.error).replace(/^\w+: /, ''));
			const app = event.locals.services;
			const user = await app.accounts.resets.reset(event.params.token, parsed.data.password);
			// Every session of the user just ended; this browser gets a fresh one.
			event.locals.session = null;
			await startSession(app, event, user);
		} catch (error) {
			return failWith(error);
		}
		redirect(303, '/');
	}
};
