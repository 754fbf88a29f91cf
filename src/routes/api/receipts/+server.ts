import { receiptSchema } from '$lib/schemas';
import { api, readJson, requireUser } from '$lib/server/http';

export const POST = api(async (event) => {
	const user = requireUser(event);
	await event.locals.services.chat.receipt(user.id, await readJson(event.request, receiptSchema));
	return new Response(null, { status: 204 });
});
