import { Readable } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { declaredLength, patchOffset, uploadErrorReply, uploadReply } from '$lib/server/attachments/upload-replies';
import { toResponse, webHeaders } from '$lib/server/edge';
import { requireUser } from '$lib/server/http';
import type { RequestHandler } from './$types';

/**
 * A resumable upload's offset and its bytes when no server ahead of SvelteKit takes them (the
 * Vite dev server; see fast-path.ts for the production server). The hooks have checked the origin
 * and the session.
 */
export const GET: RequestHandler = async (event) => {
	try {
		const user = requireUser(event);
		return toResponse(uploadReply(await event.locals.services.uploads.status(user.id, event.params.id)));
	} catch (error) {
		return toResponse(uploadErrorReply(error));
	}
};

export const PATCH: RequestHandler = async (event) => {
	try {
		const user = requireUser(event);
		const headers = webHeaders(event.request.headers);
		const offset = patchOffset(headers);
		const { body } = event.request;
		const bytes = body ? Readable.fromWeb(body as unknown as NodeReadableStream<Uint8Array>) : Readable.from([]);
		const status = await event.locals.services.uploads.append(user.id, event.params.id, offset, declaredLength(headers), bytes);
		return toResponse(uploadReply(status, status.attachment ? 201 : 200));
	} catch (error) {
		return toResponse(uploadErrorReply(error));
	}
};
