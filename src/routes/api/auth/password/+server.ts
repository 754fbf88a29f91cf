import { passwordChangeSchema } from '$lib/schemas';
import { api, clientAddress, readJson, requireSession } from '$lib/server/http';
import { endOtherSessions } from '$lib/server/signin';

/** A new password ends every other session at once: whoever knew the old one is out. */
export const POST = api(async (event) => {
	const { user, session } = requireSession(event);
	const input = await readJson(event.request, passwordChangeSchema);
	const app = event.locals.services;
	await app.auth.changePassword(user.id, input, clientAddress(event));
	await endOtherSessions(app, user, session.id);
	return new Response(null, { status: 204 });
});
