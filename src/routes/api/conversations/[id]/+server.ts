import { z } from 'zod';
import { AppError } from '$lib/errors';
import { conversationSettingsSchema } from '$lib/schemas';
import { api, json, readJson, requireUser } from '$lib/server/http';

/** The caller's own settings of a conversation (mute). */
export const PATCH = api(async (event) => {
	const user = requireUser(event);
	const id = z.uuid().safeParse(event.params.id);
	// An id that cannot exist is answered like one that is not yours: never reveal which.
	if (!id.success) throw new AppError('not_found', 'There is no such conversation.');
	const { muted } = await readJson(event.request, conversationSettingsSchema);
	return json({ conversation: await event.locals.services.chat.setMuted(user.id, id.data, muted) });
});
