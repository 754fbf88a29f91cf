import { api, requireUser } from '$lib/server/http';
import { endSession } from '$lib/server/signin';

/** Ends every session of the signed-in user, on every device. */
export const POST = api(async (event) => {
	requireUser(event);
	await endSession(event.locals.services, event, true);
	return new Response(null, { status: 204 });
});
