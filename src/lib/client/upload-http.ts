/**
 * One file to POST /api/attachments (PROTOCOL.md "Attachments"). XMLHttpRequest rather than
 * fetch: only it reports upload progress. Failures become AppError values with the server's code,
 * as api.ts's do, so the upload queue can tell a refusal from a reason to try again.
 */
import { AppError } from '$lib/errors';
import { isErrorCode, type ErrorCode } from '$lib/protocol';
import type { Attachment } from '$lib/types';
import { UnreachableError } from './api';

export interface UploadRequest {
	conversationId: string;
	blob: Blob;
	name: string;
	/** Fraction sent so far, 0…1. */
	onProgress?: (fraction: number) => void;
	signal?: AbortSignal;
}

/** Thrown when the signal aborted the request; nothing is to be recorded. */
export class UploadAborted extends Error {}

const FALLBACK: Partial<Record<number, ErrorCode>> = {
	400: 'bad_request',
	404: 'not_found',
	413: 'too_large',
	415: 'unsupported_media_type',
	429: 'rate_limited',
	503: 'unavailable'
};

const REASON: Partial<Record<ErrorCode, string>> = {
	too_large: 'The file is too large.',
	unsupported_media_type: 'This type of file cannot be sent.',
	not_found: 'This conversation is not available.',
	bad_request: 'The file was refused.',
	rate_limited: 'Too many uploads at once; it will be tried again.',
	unavailable: 'The server is busy; it will be tried again.'
};

function errorOf(xhr: XMLHttpRequest): AppError {
	let error: { code?: unknown; message?: unknown } | undefined;
	try {
		error = (JSON.parse(xhr.responseText) as { error?: typeof error } | null)?.error;
	} catch {
		// A proxy's HTML error page: the status says enough.
	}
	const claimed = error?.code;
	const code: ErrorCode = isErrorCode(claimed) ? claimed : (FALLBACK[xhr.status] ?? (xhr.status >= 500 ? 'internal' : 'bad_request'));
	const message = typeof error?.message === 'string' ? error.message : (REASON[code] ?? 'The upload failed.');
	const retryAfter = Number(xhr.getResponseHeader('retry-after')) || undefined;
	return new AppError(code, message, { retryAfter });
}

export type Uploader = (request: UploadRequest) => Promise<Attachment>;

export const uploadFile: Uploader = ({ conversationId, blob, name, onProgress, signal }) =>
	new Promise<Attachment>((resolve, reject) => {
		if (signal?.aborted) return reject(new UploadAborted());
		const xhr = new XMLHttpRequest();
		const form = new FormData();
		form.append('conversationId', conversationId);
		form.append('file', blob, name);
		xhr.open('POST', '/api/attachments');
		xhr.withCredentials = true;
		xhr.upload.onprogress = (event) => {
			if (event.lengthComputable && event.total > 0) onProgress?.(event.loaded / event.total);
		};
		xhr.onload = () => {
			if (xhr.status === 201 || xhr.status === 200) {
				try {
					resolve((JSON.parse(xhr.responseText) as { attachment: Attachment }).attachment);
				} catch (error) {
					reject(new AppError('internal', 'The server answered the upload with something unreadable.', { cause: error }));
				}
			} else reject(errorOf(xhr));
		};
		xhr.onerror = () => reject(new UnreachableError(new Error('upload failed on the network')));
		xhr.onabort = () => reject(new UploadAborted());
		signal?.addEventListener('abort', () => xhr.abort(), { once: true });
		xhr.send(form);
	});
