import { passwordConfirmationSchema } from '$lib/schemas';
import { api, clientAddress, json, readJson, requireUser } from '$lib/server/http';
import { endSession } from '$lib/server/signin';

export const GET = api((event) => json({ user: requireUser(event) }));

/** Deletes the caller's account (account-deletion.ts) once they have typed their password again. */
export const DELETE = api(async (event) => {
	const user = requireUser(event);
	const { password } = await readJson(event.request, passwordConfirmationSchema);
	const app = event.locals.services;
	await app.auth.confirmPassword(user.id, password, clientAddress(event));
	await app.accounts.delete(user.id);
	await endSession(app, event);
	return new Response(null, { status: 204 });
});
