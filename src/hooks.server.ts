import type { Handle, HandleServerError, ServerInit } from '@sveltejs/kit';
import { sequence } from '@sveltejs/kit/hooks';
import { AppError } from '$lib/errors';
import { setSessionCookie } from '$lib/server/cookies';
import { toAppError } from '$lib/server/failures';
import { errorResponse } from '$lib/server/http';
import { registerRuntime } from '$lib/server/runtime';
import { handleUpgrade } from '$lib/server/ws';
import { fastRequest } from '$lib/server/fast-path';
import { initServices, services } from '$lib/server/services';
import { expiresAt, SESSION_COOKIE, validateSessionToken } from '$lib/server/session';

export const init: ServerInit = async () => {
	const app = await initServices();
	registerRuntime({
		upgrade: (req, socket, head) => void handleUpgrade(req, socket, head),
		request: fastRequest,
		shutdown: () => app.shutdown()
	});
};

const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Refuses cross-site state changes of every content type (Kit's own check only covers forms). */
const guardOrigin: Handle = ({ event, resolve }) => {
	if (STATE_CHANGING.has(event.request.method)) {
		const origin = event.request.headers.get('origin');
		const site = event.request.headers.get('sec-fetch-site');
		if ((origin !== null && origin !== event.url.origin) || site === 'cross-site') {
			return errorResponse(new AppError('forbidden', 'Requests from other sites are not allowed.'));
		}
	}
	return resolve(event);
};

const HEALTH_PATHS = new Set(['/healthz', '/readyz']);

const authenticate: Handle = async ({ event, resolve }) => {
	event.locals.user = null;
	event.locals.session = null;
	const token = event.cookies.get(SESSION_COOKIE);
	// Health probes must answer whatever state the database is in, cookie or not.
	if (token && !HEALTH_PATHS.has(event.url.pathname)) {
		const { database, sessionPolicy } = services();
		let result;
		try {
			result = await validateSessionToken(database.db, token, sessionPolicy);
		} catch (error) {
			return errorResponse(toAppError(error));
		}
		if (result) {
			event.locals.user = result.user;
			event.locals.session = result.session;
			if (result.renewed) {
				setSessionCookie(event.cookies, event.url, token, expiresAt(result.session, sessionPolicy));
			}
		} else {
			event.cookies.delete(SESSION_COOKIE, { path: '/' });
		}
	}
	return resolve(event);
};

const securityHeaders: Handle = async ({ event, resolve }) => {
	const response = await resolve(event);
	response.headers.set('x-content-type-options', 'nosniff');
	response.headers.set('referrer-policy', 'same-origin');
	if (!response.headers.has('x-frame-options')) response.headers.set('x-frame-options', 'DENY');
	return response;
};

export const handle = sequence(guardOrigin, authenticate, securityHeaders);

export const handleError: HandleServerError = ({ error, status }) => {
	if (status >= 500) console.error(error);
	return { message: status === 404 ? 'Not found.' : 'Something went wrong on our side.', code: 'internal' };
};
