import { registerSchema } from '$lib/schemas';
import { api, clientAddress, json, readJson } from '$lib/server/http';
import { startSession } from '$lib/server/signin';

export const POST = api(async (event) => {
	const registrant = await readJson(event.request, registerSchema);
	const app = event.locals.services;
	const user = await app.auth.register(registrant, clientAddress(event));
	await startSession(app, event, user);
	return json({ user }, 201);
});
