import { redirect } from '@sveltejs/kit';
import { z } from 'zod';
import { AppError } from '$lib/errors';
import { blockSchema, describeIssues } from '$lib/schemas';
import { failWith } from '$lib/server/form';
import type { Actions, PageServerLoad } from './$types';

/** The people the user blocks; the forms below work without JavaScript. */
export const load: PageServerLoad = async ({ locals }) => {
	if (!locals.user) redirect(302, '/login');
	return { blocked: await locals.services.chat.listBlocks(locals.user.id) };
};

export const actions: Actions = {
	block: async ({ locals, request }) => {
		if (!locals.user) redirect(303, '/login');
		const username = String((await request.formData()).get('username') ?? '');
		try {
			const parsed = blockSchema.safeParse({ username });
			if (!parsed.success) throw new AppError('bad_request', describeIssues(parsed.error).replace(/^\w+: /, ''));
			await locals.services.chat.block(locals.user.id, parsed.data.username);
			return { done: `You blocked ${parsed.data.username}.` };
		} catch (failure) {
			// Not `username`: the layout's start-chat form shows a failure that carries one as its own.
			return failWith(failure, { typed: username });
		}
	},
	unblock: async ({ locals, request }) => {
		if (!locals.user) redirect(303, '/login');
		const data = await request.formData();
		const id = z.uuid().safeParse(String(data.get('userId') ?? ''));
		const name = String(data.get('username') ?? '').slice(0, 32);
		try {
			if (!id.success) throw new AppError('bad_request', 'The form is out of date; reload the page and try again.');
			await locals.services.chat.unblock(locals.user.id, id.data);
			return { done: name ? `You unblocked ${name}.` : 'Unblocked.' };
		} catch (failure) {
			return failWith(failure);
		}
	}
};
