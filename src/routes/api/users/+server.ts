import { api, json, requireUser } from '$lib/server/http';

export const GET = api(async (event) => {
	const user = requireUser(event);
	const q = (event.url.searchParams.get('q') ?? '').slice(0, 32);
	return json({ users: await event.locals.services.chat.searchUsers(user.id, q) });
});
