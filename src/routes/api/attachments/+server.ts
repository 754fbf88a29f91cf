import { Readable } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { api, json, requireUser } from '$lib/server/http';

/**
 * Where an upload lands when no server ahead of SvelteKit takes it (the Vite dev server): the
 * production server serves POST /api/attachments on node's own request (fast-path.ts), as SvelteKit
 * there would cut the body at BODY_SIZE_LIMIT. The hooks have checked the origin and the session.
 */
export const POST = api(async (event) => {
	const user = requireUser(event);
	const { request } = event;
	const body = request.body ? Readable.fromWeb(request.body as unknown as NodeReadableStream<Uint8Array>) : Readable.from([]);
	// A web stream has no `complete`: it ended when it closed without an error.
	body.once('end', () => Object.assign(body, { complete: true }));
	const attachment = await event.locals.services.attachments.upload(
		user.id,
		request.headers.get('content-type') ?? undefined,
		request.headers.get('content-length') ?? undefined,
		body
	);
	return json({ attachment }, 201);
});
