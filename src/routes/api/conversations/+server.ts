import { openConversationSchema } from '$lib/schemas';
import { api, json, readJson, requireUser } from '$lib/server/http';
import { services } from '$lib/server/services';

export const GET = api(async (event) => {
	const user = requireUser(event);
	return json({ conversations: await services().chat.listConversations(user.id) });
});

/** Get-or-create the 1:1 conversation with a user. */
export const POST = api(async (event) => {
	const user = requireUser(event);
	const { username } = await readJson(event.request, openConversationSchema);
	return json({ conversation: await services().chat.openConversation(user.id, username) });
});
