import { redirect } from '@sveltejs/kit';
import { searchMessages } from '$lib/server/chat/search';
import type { PageServerLoad } from './$types';

/** Rendered on the server for the no-JS form; with JavaScript the page searches by itself. */
export const load: PageServerLoad = async ({ locals, url }) => {
	if (!locals.user) redirect(302, '/login');
	const text = (url.searchParams.get('text') ?? '').slice(0, 200);
	return { text, results: text.trim() ? await searchMessages(locals.services.database.db, locals.user.id, text) : null };
};
