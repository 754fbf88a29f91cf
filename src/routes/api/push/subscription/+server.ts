import { z } from 'zod';
import { AppError } from '$lib/errors';
import { api, json, readJson, requireUser } from '$lib/server/http';

const subscribeSchema = z.object({
	subscription: z.object({
		endpoint: z.string().max(2048),
		keys: z.object({ p256dh: z.string().min(1).max(256), auth: z.string().min(1).max(64) })
	}),
	previews: z.boolean().default(false)
});

const unsubscribeSchema = z.object({ endpoint: z.string().max(2048) });

/** The server's VAPID public key, for PushManager.subscribe. */
export const GET = api((event) => {
	requireUser(event);
	return json({ publicKey: event.locals.services.push.keys.publicKey });
});

/** Registers (or moves to this user, or updates) a browser's push subscription. */
export const POST = api(async (event) => {
	const user = requireUser(event);
	const { subscription, previews } = await readJson(event.request, subscribeSchema);
	const { push } = event.locals.services;
	if (!push.validEndpoint(subscription.endpoint)) throw new AppError('bad_request', 'The push endpoint must be an https URL.');
	await push.subscribe(user.id, { endpoint: subscription.endpoint, ...subscription.keys, previews });
	return new Response(null, { status: 204 });
});

export const DELETE = api(async (event) => {
	const user = requireUser(event);
	const { endpoint } = await readJson(event.request, unsubscribeSchema);
	await event.locals.services.push.unsubscribe(user.id, endpoint);
	return new Response(null, { status: 204 });
});
