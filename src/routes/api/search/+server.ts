import { api, json, requireUser } from '$lib/server/http';
import { searchMessages } from '$lib/server/chat/search';

export const GET = api(async (event) => {
	const user = requireUser(event);
	const q = (event.url.searchParams.get('q') ?? '').slice(0, 200);
	return json({ results: await searchMessages(event.locals.services.database.db, user.id, q) });
});
