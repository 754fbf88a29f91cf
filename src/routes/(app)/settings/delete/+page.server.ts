import { redirect } from '@sveltejs/kit';
import { passwordConfirmationSchema, describeIssues } from '$lib/schemas';
import { AppError } from '$lib/errors';
import { ACCOUNT_DELETED } from '$lib/client/signed-out';
import { failWith } from '$lib/server/form';
import { clientAddress } from '$lib/server/http';
import { endSession } from '$lib/server/signin';
import type { Actions, PageServerLoad } from './$types';

export const load: PageServerLoad = ({ locals }) => {
	if (!locals.user) redirect(302, '/login');
};

export const actions: Actions = {
	default: async (event) => {
		const { locals } = event;
		if (!locals.user) redirect(303, '/login');
		try {
			const parsed = passwordConfirmationSchema.safeParse({ password: String((await event.request.formData()).get('password') ?? '') });
			if (!parsed.success) throw new AppError('bad_request', describeIssues(parsed.error).replace(/^\w+: /, ''));
			const app = locals.services;
			await app.auth.confirmPassword(locals.user.id, parsed.data.password, clientAddress(event));
			await app.accounts.delete(locals.user.id);
			await endSession(app, event);
		} catch (error) {
			return failWith(error);
		}
		redirect(303, ACCOUNT_DELETED);
	}
};
