import { api, requireUser } from '$lib/server/http';
import { endSessionById } from '$lib/server/signin';

export const DELETE = api(async (event) => {
	const user = requireUser(event);
	await endSessionById(event.locals.services, event, user, event.params.id ?? '');
	return new Response(null, { status: 204 });
});
