/**
 * The HTTP edge of the protocol: JSON bodies read with size, content-type and schema checks, and
 * every failure turned into `{"error": {code, message}}` with the right status, here and only here.
 */
import type { RequestEvent, RequestHandler } from '@sveltejs/kit';
import type { z } from 'zod';
import { AppError } from '$lib/errors';
import { describeIssues, MAX_JSON_BYTES } from '$lib/schemas';
import type { User } from '$lib/types';
import { toAppError } from './failures';

export function errorResponse(error: AppError): Response {
	const headers = new Headers({ 'content-type': 'application/json', 'cache-control': 'no-store' });
	if (error.code === 'rate_limited') headers.set('retry-after', String(error.retryAfter ?? 1));
	return new Response(JSON.stringify(error.toBody()), { status: error.status, headers });
}

export function json(data: unknown, status = 200): Response {
	return new Response(JSON.stringify(data), {
		status,
		headers: { 'content-type': 'application/json', 'cache-control': 'no-store' }
	});
}

/** Wraps an API endpoint so that thrown AppErrors (and anything unexpected) become protocol errors. */
export function api<E extends RequestEvent>(handler: (event: E) => Promise<Response> | Response) {
	return (async (event: E) => {
		try {
			return await handler(event);
		} catch (error) {
			return errorResponse(toAppError(error));
		}
	}) as unknown as RequestHandler;
}

export function requireUser(event: RequestEvent): User {
	if (!event.locals.user) throw new AppError('unauthorized', 'Sign in to continue.');
	return event.locals.user;
}

export async function readJson<S extends z.ZodType>(request: Request, schema: S): Promise<z.infer<S>> {
	const type = request.headers.get('content-type') ?? '';
	if (!/^application\/json\s*(;|$)/i.test(type)) {
		throw new AppError('unsupported_media_type', 'Send the body as JSON with content-type: application/json.');
	}
	const text = await readLimited(request, MAX_JSON_BYTES);
	let value: unknown;
	try {
		value = JSON.parse(text);
	} catch {
		throw new AppError('bad_request', 'The body is not valid JSON.');
	}
	const parsed = schema.safeParse(value);
	if (!parsed.success) throw new AppError('bad_request', describeIssues(parsed.error));
	return parsed.data;
}

const TOO_LARGE = () => new AppError('too_large', `The body is larger than ${MAX_JSON_BYTES / 1024} KiB.`);

async function readLimited(request: Request, limit: number): Promise<string> {
	const declared = Number(request.headers.get('content-length') ?? NaN);
	if (declared > limit) throw TOO_LARGE();
	if (!request.body) return '';
	const reader = request.body.getReader();
	const chunks: Uint8Array[] = [];
	let size = 0;
	try {
		for (;;) {
			const { done, value } = await reader.read();
			if (done) break;
			size += value.byteLength;
			if (size > limit) {
				await reader.cancel().catch(() => {});
				throw TOO_LARGE();
			}
			chunks.push(value);
		}
	} catch (error) {
		if (error instanceof AppError) throw error;
		// adapter-node rejects bodies past BODY_SIZE_LIMIT by erroring the stream.
		throw TOO_LARGE();
	}
	return new TextDecoder('utf-8', { fatal: false }).decode(Buffer.concat(chunks));
}

/** The client's address as adapter-node reports it (honours ADDRESS_HEADER behind a proxy). */
export function clientAddress(event: RequestEvent): string {
	try {
		return event.getClientAddress();
	} catch {
		return 'unknown';
	}
}
