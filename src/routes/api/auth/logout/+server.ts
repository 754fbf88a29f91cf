import { api, requireUser } from '$lib/server/http';
import { endSession } from '$lib/server/signin';

export const POST = api(async (event) => {
	requireUser(event);
	await endSession(event.locals.services, event);
	return new Response(null, { status: 204 });
});
