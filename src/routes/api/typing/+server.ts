import { typingSchema } from '$lib/schemas';
import { api, readJson, requireUser } from '$lib/server/http';

export const POST = api(async (event) => {
	const user = requireUser(event);
	const { conversationId } = await readJson(event.request, typingSchema);
	await event.locals.services.chat.typing(user.id, conversationId);
	return new Response(null, { status: 204 });
});

export const DELETE = api(async (event) => {
	const user = requireUser(event);
	const { conversationId } = await readJson(event.request, typingSchema);
	await event.locals.services.chat.typingStopped(user.id, conversationId);
	return new Response(null, { status: 204 });
});
