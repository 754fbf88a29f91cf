import { redirect } from '@sveltejs/kit';
import type { LayoutServerLoad } from './$types';

/** The signed-in shell: the conversation list and, for the no-JS search form, its results. */
export const load: LayoutServerLoad = async ({ locals, url }) => {
	if (!locals.user) redirect(302, '/login');
	const { chat } = locals.services;
	const q = (url.searchParams.get('q') ?? '').trim().slice(0, 32);
	const [conversations, users] = await Promise.all([
		chat.listConversations(locals.user.id),
		q ? chat.searchUsers(locals.user.id, q) : Promise.resolve(null)
	]);
	return { user: locals.user, conversations, search: users ? { q, users } : null };
};
