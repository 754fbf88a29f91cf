import { credentialsSchema } from '$lib/schemas';
import { api, clientAddress, json, readJson } from '$lib/server/http';
import { startSession } from '$lib/server/signin';

export const POST = api(async (event) => {
	const credentials = await readJson(event.request, credentialsSchema);
	const app = event.locals.services;
	const user = await app.auth.register(credentials, clientAddress(event));
	await startSession(app, event, user);
	return json({ user }, 201);
});
