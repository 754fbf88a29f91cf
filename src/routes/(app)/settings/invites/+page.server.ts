import { redirect } from '@sveltejs/kit';
import { failWith } from '$lib/server/form';
import { inviteUrl } from '$lib/server/invites';
import type { Actions, PageServerLoad } from './$types';

export const load: PageServerLoad = ({ locals }) => {
	if (!locals.user) redirect(302, '/login');
	return { enabled: locals.services.config.registration === 'invite' };
};

export const actions: Actions = {
	default: async ({ locals, url }) => {
		if (!locals.user) redirect(303, '/login');
		try {
			const app = locals.services;
			const invite = await app.invites.create(locals.user.id);
			return {
				invite: {
					code: invite.code,
					expiresAt: invite.expiresAt.toISOString(),
					url: inviteUrl(app.config.origin ?? url.origin, invite.code)
				}
			};
		} catch (error) {
			return failWith(error);
		}
	}
};
