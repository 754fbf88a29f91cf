import { credentialsSchema } from '$lib/schemas';
import { api, clientAddress, json, readJson } from '$lib/server/http';
import { services } from '$lib/server/services';
import { startSession } from '$lib/server/signin';

export const POST = api(async (event) => {
	const credentials = await readJson(event.request, credentialsSchema);
	const user = await services().auth.register(credentials, clientAddress(event));
	await startSession(event, user);
	return json({ user }, 201);
});
