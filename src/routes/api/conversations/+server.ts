import { openConversationSchema } from '$lib/schemas';
import { api, json, readJson, requireUser } from '$lib/server/http';

export const GET = api(async (event) => {
	const user = requireUser(event);
	return json({ conversations: await event.locals.services.chat.listConversations(user.id) });
});

/** Get-or-create the 1:1 conversation with a user. */
export const POST = api(async (event) => {
	const user = requireUser(event);
	const { username } = await readJson(event.request, openConversationSchema);
	return json({ conversation: await event.locals.services.chat.openConversation(user.id, username) });
});
