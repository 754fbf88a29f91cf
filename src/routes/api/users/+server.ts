import { api, json, requireUser } from '$lib/server/http';
import { services } from '$lib/server/services';

export const GET = api(async (event) => {
	const user = requireUser(event);
	const q = (event.url.searchParams.get('q') ?? '').slice(0, 32);
	return json({ users: await services().chat.searchUsers(user.id, q) });
});
