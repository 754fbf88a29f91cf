/**
 * The HTTP side of resumable uploads, shared by the production server's fast path (fast-path.ts)
 * and the SvelteKit routes the Vite dev server uses, so both check and answer alike.
 */
import { AppError } from '$lib/errors';
import { errorReply, jsonReply, type HeaderGet, type Reply } from '../edge';
import { toAppError } from '../failures';
import { OFFSET_CONTENT_TYPE, OffsetConflict, parseOffset, type UploadStatus } from './resumable';

/** A PATCH's headers: the bytes' content type (else 415) and the offset they go to (else 400). */
export function patchOffset(headers: HeaderGet): number {
	if (!/^application\/offset\+octet-stream\s*(;|$)/i.test(headers('content-type') ?? '')) {
		throw new AppError('unsupported_media_type', `Send the bytes as ${OFFSET_CONTENT_TYPE}.`);
	}
	return parseOffset(headers('upload-offset'));
}

/** A declared Content-Length as a number of bytes; node has already refused a malformed one. */
export function declaredLength(headers: HeaderGet): number | undefined {
	const value = headers('content-length');
	return value === undefined ? undefined : Number(value);
}

/** JSON, with the offset in headers too, as tus clients look for it there. */
export function uploadReply(body: UploadStatus, status = 200): Reply {
	const reply = jsonReply(body, status);
	reply.headers['upload-offset'] = String(body.upload.offset);
	reply.headers['upload-length'] = String(body.upload.size);
	reply.headers['cache-control'] = 'no-store';
	return reply;
}

/** The protocol's error shape; a wrong offset's 409 also says where the upload is. */
export function uploadErrorReply(error: unknown): Reply {
	if (!(error instanceof OffsetConflict)) return errorReply(toAppError(error));
	const reply = uploadReply({ upload: error.upload }, 409);
	reply.body = JSON.stringify({ ...error.toBody(), upload: error.upload });
	return reply;
}
