/**
 * The SvelteKit side of the HTTP edge: API handlers whose failures become protocol errors, and JSON
 * bodies read with the edge's content-type, size and schema checks (edge.ts holds the rules).
 */
import type { RequestEvent, RequestHandler } from '@sveltejs/kit';
import type { z } from 'zod';
import { AppError } from '$lib/errors';
import type { User } from '$lib/types';
import { errorReply, jsonReply, parseJson, readWebBody, requireJsonType, toResponse, webHeaders } from './edge';
import { toAppError } from './failures';
import type { Session } from './session';

export function errorResponse(error: AppError): Response {
	return toResponse(errorReply(error));
}

export function json(data: unknown, status = 200): Response {
	return toResponse(jsonReply(data, status));
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

/** The signed-in user with the session the request came in on (the sessions list tells them apart). */
export function requireSession(event: RequestEvent): { user: User; session: Session } {
	const { user, session } = event.locals;
	if (!user || !session) throw new AppError('unauthorized', 'Sign in to continue.');
	return { user, session };
}

export async function readJson<S extends z.ZodType>(request: Request, schema: S): Promise<z.infer<S>> {
	requireJsonType(webHeaders(request.headers));
	return parseJson(await readWebBody(request), schema);
}

/** The client's address as adapter-node reports it (honours ADDRESS_HEADER behind a proxy). */
export function clientAddress(event: RequestEvent): string {
	try {
		return event.getClientAddress();
	} catch {
		return 'unknown';
	}
}
