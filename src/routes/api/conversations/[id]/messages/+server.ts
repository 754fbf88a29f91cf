import { AppError } from '$lib/errors';
import { describeIssues, historyQuerySchema } from '$lib/schemas';
import { api, json, requireUser } from '$lib/server/http';
import { z } from 'zod';

export const GET = api(async (event) => {
	const user = requireUser(event);
	const id = z.uuid().safeParse(event.params.id);
	// An id that cannot exist is answered like one that is not yours: never reveal which.
	if (!id.success) throw new AppError('not_found', 'There is no such conversation.');
	const query = historyQuerySchema.safeParse(Object.fromEntries(event.url.searchParams));
	if (!query.success) throw new AppError('bad_request', describeIssues(query.error));
	return json(await event.locals.services.chat.history(user.id, id.data, query.data));
});
