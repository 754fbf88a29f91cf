import { editSchema } from '$lib/schemas';
import { api, json, readJson, requireUser } from '$lib/server/http';
import { messageIdParam } from '$lib/server/message-params';

/** A message as it now is, for a member (a quoted original that is not loaded, and where it sits). */
export const GET = api(async (event) => {
	const user = requireUser(event);
	return json({ message: await event.locals.services.chat.getMessage(user.id, messageIdParam(event)) });
});

/** The sender edits the body; the same body again changes nothing. */
export const PATCH = api(async (event) => {
	const user = requireUser(event);
	const messageId = messageIdParam(event);
	const { body } = await readJson(event.request, editSchema);
	return json({ message: await event.locals.services.chat.change(user.id, { op: 'edit', messageId, body }) });
});

/** The sender deletes it for everyone; deleting again answers the same message. */
export const DELETE = api(async (event) => {
	const user = requireUser(event);
	const messageId = messageIdParam(event);
	return json({ message: await event.locals.services.chat.change(user.id, { op: 'delete', messageId }) });
});
