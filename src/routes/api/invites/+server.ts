import { api, json, requireUser } from '$lib/server/http';
import { inviteUrl } from '$lib/server/invites';

export const POST = api(async (event) => {
	const user = requireUser(event);
	const app = event.locals.services;
	const invite = await app.invites.create(user.id);
	const url = inviteUrl(app.config.origin ?? event.url.origin, invite.code);
	return json({ invite: { code: invite.code, expiresAt: invite.expiresAt.toISOString(), url } }, 201);
});
