/**
 * One file to the server as a resumable upload (docs/protocol.md "Resumable uploads"): created
 * once, its id kept by the caller, then its bytes sent from the server's offset, so a retry after a
 * lost connection sends only what the server does not have. XMLHttpRequest rather than fetch:
 * only it reports upload progress. Failures become AppError values with the server's code, as
 * api.ts's do, so the upload queue can tell a refusal from a reason to try again.
 */
import { AppError } from '$lib/errors';
import { isErrorCode, type ErrorCode } from '$lib/protocol';
import type { Attachment } from '$lib/types';
import { UnreachableError } from './api';

export interface UploadRequest {
	conversationId: string;
	blob: Blob;
	name: string;
	/** The server's upload of this file from an earlier attempt, to resume. */
	uploadId?: string;
	/** A new server upload was created for the file: keep its id for the next attempt. */
	onCreated?: (uploadId: string) => Promise<void> | void;
	/** Fraction of the whole file the server has or is receiving, 0…1. */
	onProgress?: (fraction: number) => void;
	signal?: AbortSignal;
}

/** Thrown when the signal aborted the request; nothing is to be recorded. */
export class UploadAborted extends Error {}

interface Upload {
	id: string;
	offset: number;
	size: number;
}

interface UploadAnswer {
	upload: Upload;
	attachment?: Attachment;
}

const FALLBACK: Partial<Record<number, ErrorCode>> = {
	400: 'bad_request',
	404: 'not_found',
	409: 'conflict',
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

/** Conflicts in a row before giving the attempt up: another tab may be sending the same file. */
const MAX_CONFLICTS = 3;

/** An answer other than success: the error, and the upload as the server has it, if it said. */
class Refused extends AppError {
	constructor(
		code: ErrorCode,
		message: string,
		retryAfter: number | undefined,
		readonly upload: Upload | undefined
	) {
		super(code, message, { retryAfter });
	}
}

interface Sent {
	status: number;
	body: unknown;
}

/** One request; resolves with any answer that is not an error, rejects with the error otherwise. */
function request(
	method: string,
	url: string,
	body: Blob | string | null,
	options: { headers?: Record<string, string>; signal?: AbortSignal; onSent?: (loaded: number) => void }
): Promise<Sent> {
	return new Promise<Sent>((resolve, reject) => {
		if (options.signal?.aborted) return reject(new UploadAborted());
		const xhr = new XMLHttpRequest();
		xhr.open(method, url);
		xhr.withCredentials = true;
		for (const [name, value] of Object.entries(options.headers ?? {})) xhr.setRequestHeader(name, value);
		if (options.onSent) {
			const onSent = options.onSent;
			xhr.upload.onprogress = (event) => {
				if (event.lengthComputable) onSent(event.loaded);
			};
		}
		xhr.onload = () => {
			let parsed: unknown = null;
			try {
				parsed = JSON.parse(xhr.responseText);
			} catch {
				// A proxy's HTML error page: the status says enough.
			}
			if (xhr.status >= 200 && xhr.status < 300) {
				if (parsed === null) reject(new AppError('internal', 'The server answered the upload with something unreadable.'));
				else resolve({ status: xhr.status, body: parsed });
			} else reject(refusal(xhr, parsed));
		};
		xhr.onerror = () => reject(new UnreachableError(new Error('upload failed on the network')));
		xhr.onabort = () => reject(new UploadAborted());
		options.signal?.addEventListener('abort', () => xhr.abort(), { once: true });
		xhr.send(body);
	});
}

function refusal(xhr: XMLHttpRequest, parsed: unknown): Refused {
	const answer = parsed as { error?: { code?: unknown; message?: unknown }; upload?: Upload } | null;
	const claimed = answer?.error?.code;
	const code: ErrorCode = isErrorCode(claimed) ? claimed : (FALLBACK[xhr.status] ?? (xhr.status >= 500 ? 'internal' : 'bad_request'));
	const message = typeof answer?.error?.message === 'string' ? answer.error.message : (REASON[code] ?? 'The upload failed.');
	const retryAfter = Number(xhr.getResponseHeader('retry-after')) || undefined;
	return new Refused(code, message, retryAfter, answer?.upload);
}

const uploadPath = (id: string) => `/api/attachments/uploads/${encodeURIComponent(id)}`;

/** The server's state of an earlier upload, or null when it is gone (swept, or never there). */
async function resume(id: string, signal: AbortSignal | undefined): Promise<UploadAnswer | null> {
	try {
		return (await request('GET', uploadPath(id), null, { signal })).body as UploadAnswer;
	} catch (error) {
		if (error instanceof AppError && error.code === 'not_found') return null;
		throw error;
	}
}

async function create(req: UploadRequest): Promise<UploadAnswer> {
	const body = JSON.stringify({ conversationId: req.conversationId, name: req.name, size: req.blob.size });
	const answer = (
		await request('POST', '/api/attachments/uploads', body, { headers: { 'content-type': 'application/json' }, signal: req.signal })
	).body as UploadAnswer;
	await req.onCreated?.(answer.upload.id);
	return answer;
}

/** Sends the file from the server's offset on: the server's answer, the attachment with the last byte. */
async function sendRest(req: UploadRequest, upload: Upload): Promise<UploadAnswer> {
	const { blob, onProgress } = req;
	onProgress?.(upload.offset / blob.size);
	const sent = await request('PATCH', uploadPath(upload.id), blob.slice(upload.offset), {
		headers: { 'content-type': 'application/offset+octet-stream', 'upload-offset': String(upload.offset) },
		signal: req.signal,
		onSent: (loaded) => onProgress?.(Math.min(1, (upload.offset + loaded) / blob.size))
	});
	return sent.body as UploadAnswer;
}

export type Uploader = (request: UploadRequest) => Promise<Attachment>;

/**
 * Uploads `req.blob`: resumes `req.uploadId` where the server has it, or creates a new upload
 * (also when the old one is gone), then sends the rest until the server answers the attachment.
 */
export const uploadFile: Uploader = async (req) => {
	let answer = req.uploadId ? await resume(req.uploadId, req.signal) : null;
	let conflicts = 0;
	let recreated = false;
	for (;;) {
		if (answer?.attachment) return answer.attachment;
		answer ??= await create(req);
		const from = answer.upload.offset;
		try {
			const next = await sendRest(req, answer.upload);
			// The server keeps whole chunks only; one that kept nothing of a whole body is not progressing.
			if (!next.attachment && next.upload.offset <= from) throw new AppError('internal', 'The upload did not advance.');
			answer = next;
			conflicts = 0;
		} catch (error) {
			if (!(error instanceof Refused)) throw error;
			if (error.code === 'conflict' && error.upload && error.upload.offset >= error.upload.size) {
				// Finished by a request whose answer was lost: the attachment is there to ask for.
				answer = await resume(error.upload.id, req.signal);
			} else if (error.code === 'conflict' && error.upload) {
				// An earlier request of this file may still be running on the server; later, it will not be.
				if (++conflicts > MAX_CONFLICTS) throw new AppError('unavailable', 'The upload is busy; it will be tried again.');
				answer = { upload: error.upload };
			} else if (error.code === 'not_found' && !recreated) {
				// Swept between the offset and the bytes: the file starts over in a new upload.
				recreated = true;
				answer = null;
			} else throw error;
		}
	}
};
