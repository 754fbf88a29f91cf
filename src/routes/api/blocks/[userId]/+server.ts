import { z } from 'zod';
import { AppError } from '$lib/errors';
import { api, requireUser } from '$lib/server/http';

/** Unblocks; someone not blocked (or unknown) is answered the same, so nothing is revealed. */
export const DELETE = api(async (event) => {
	const user = requireUser(event);
	const id = z.uuid().safeParse(event.params.userId);
	if (!id.success) throw new AppError('bad_request', 'The user id is not valid.');
	await event.locals.services.chat.unblock(user.id, id.data);
	return new Response(null, { status: 204 });
});
