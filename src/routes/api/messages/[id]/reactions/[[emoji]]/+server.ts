import { api, json, requireUser } from '$lib/server/http';
import { emojiParam, messageIdParam } from '$lib/server/message-params';

/** An empty emoji (".../reactions/") reaches this route's 400 instead of a redirect to ".../reactions". */
export const trailingSlash = 'ignore';

/** Adds the caller's reaction (idempotent). */
export const PUT = api(async (event) => {
	const user = requireUser(event);
	const messageId = messageIdParam(event);
	const emoji = emojiParam(event);
	return json({ message: await event.locals.services.chat.change(user.id, { op: 'react', messageId, emoji }) });
});

/** Removes the caller's reaction (idempotent). */
export const DELETE = api(async (event) => {
	const user = requireUser(event);
	const messageId = messageIdParam(event);
	const emoji = emojiParam(event);
	return json({ message: await event.locals.services.chat.change(user.id, { op: 'unreact', messageId, emoji }) });
});
