import { settingsPatchSchema } from '$lib/schemas';
import { api, json, readJson, requireUser } from '$lib/server/http';

export const GET = api(async (event) => {
	const user = requireUser(event);
	return json({ settings: await event.locals.services.chat.settings(user.id) });
});

/** Any subset of the settings; what is not named stays as it was. */
export const PATCH = api(async (event) => {
	const user = requireUser(event);
	const patch = await readJson(event.request, settingsPatchSchema);
	return json({ settings: await event.locals.services.chat.updateSettings(user.id, patch) });
});
