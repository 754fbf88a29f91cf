import { api, json, requireSession } from '$lib/server/http';
import { sessionList } from '$lib/server/session-list';
import { endOtherSessions } from '$lib/server/signin';

export const GET = api(async (event) => {
	const { user, session } = requireSession(event);
	const records = await event.locals.services.sessions.listUser(user.id);
	return json({ sessions: sessionList(records, session.id) });
});

/** "Sign out all other devices": every session of the caller but this one. */
export const DELETE = api(async (event) => {
	const { user, session } = requireSession(event);
	await endOtherSessions(event.locals.services, user, session.id);
	return new Response(null, { status: 204 });
});
