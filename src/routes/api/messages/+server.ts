import { sendSchema } from '$lib/schemas';
import { api, json, readJson, requireUser } from '$lib/server/http';

/** Sends a message; answers once it is durable (possibly after waiting for earlier clientSeqs). */
export const POST = api(async (event) => {
	const user = requireUser(event);
	const send = await readJson(event.request, sendSchema);
	return json(await event.locals.services.chat.send(user.id, send));
});
