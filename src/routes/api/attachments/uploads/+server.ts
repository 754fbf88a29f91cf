import { createUploadSchema } from '$lib/schemas';
import { uploadErrorReply, uploadReply } from '$lib/server/attachments/upload-replies';
import { toResponse } from '$lib/server/edge';
import { readJson, requireUser } from '$lib/server/http';
import type { RequestHandler } from './$types';

/**
 * Where a resumable upload is created when no server ahead of SvelteKit takes it (the Vite dev
 * server; the production server answers on node's own request, fast-path.ts). The hooks have
 * checked the origin and the session.
 */
export const POST: RequestHandler = async (event) => {
	try {
		const user = requireUser(event);
		const upload = await event.locals.services.uploads.create(user.id, await readJson(event.request, createUploadSchema));
		return toResponse(uploadReply({ upload }, 201));
	} catch (error) {
		return toResponse(uploadErrorReply(error));
	}
};
