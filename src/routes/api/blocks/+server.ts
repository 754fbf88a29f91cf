import { blockSchema } from '$lib/schemas';
import { api, json, readJson, requireUser } from '$lib/server/http';

/** The people the caller blocks. */
export const GET = api(async (event) => {
	const user = requireUser(event);
	return json({ users: await event.locals.services.chat.listBlocks(user.id) });
});

/** Blocks a user by username; blocking again changes nothing. */
export const POST = api(async (event) => {
	const user = requireUser(event);
	const { username } = await readJson(event.request, blockSchema);
	await event.locals.services.chat.block(user.id, username);
	return new Response(null, { status: 204 });
});
