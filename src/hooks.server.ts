import type { Handle, HandleServerError, ServerInit } from '@sveltejs/kit';
import { sequence } from '@sveltejs/kit/hooks';
import { clearSessionCookie, setSessionCookie } from '$lib/server/cookies';
import {
	crossSiteError,
	isStateChanging,
	replyClientError,
	replyUnexpected,
	SECURITY_HEADERS,
	sessionToken,
	webHeaders
} from '$lib/server/edge';
import { toAppError } from '$lib/server/failures';
import { errorResponse } from '$lib/server/http';
import { registerRuntime } from '$lib/server/runtime';
import { handleUpgrade } from '$lib/server/ws';
import { fastRequest } from '$lib/server/fast-path';
import { initServices, services } from '$lib/server/services';
import { expiresAt, validateSessionToken } from '$lib/server/session';

export const init: ServerInit = async () => {
	const app = await initServices();
	registerRuntime({
		upgrade: (req, socket, head) => handleUpgrade(app, req, socket, head),
		request: app.config.fastPath ? (req, res) => fastRequest(app, req, res) : undefined,
		shutdown: () => app.shutdown(),
		replyUnexpected,
		replyClientError
	});
};

/** Refuses cross-site state changes of every content type (Kit's own check only covers forms). */
const guardOrigin: Handle = ({ event, resolve }) => {
	const refused = isStateChanging(event.request.method) && crossSiteError(webHeaders(event.request.headers), event.url.origin);
	return refused ? errorResponse(refused) : resolve(event);
};

const HEALTH_PATHS = new Set(['/healthz', '/readyz']);

const authenticate: Handle = async ({ event, resolve }) => {
	event.locals.user = null;
	event.locals.session = null;
	const token = sessionToken(webHeaders(event.request.headers));
	// Health probes must answer whatever state the database is in, cookie or not.
	if (token !== undefined && !HEALTH_PATHS.has(event.url.pathname)) {
		const { database, sessionPolicy } = services();
		let result;
		try {
			result = token ? await validateSessionToken(database.db, token, sessionPolicy) : null;
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
			clearSessionCookie(event.cookies, event.url);
		}
	}
	return resolve(event);
};

/** First in the sequence, so the answers of the checks after it carry the headers too. */
const securityHeaders: Handle = async ({ event, resolve }) => {
	const response = await resolve(event);
	for (const [name, value] of Object.entries(SECURITY_HEADERS)) {
		if (name !== 'x-frame-options' || !response.headers.has(name)) response.headers.set(name, value);
	}
	return response;
};

export const handle = sequence(securityHeaders, guardOrigin, authenticate);

export const handleError: HandleServerError = ({ error, status }) => {
	if (status >= 500) console.error(error);
	return { message: status === 404 ? 'Not found.' : 'Something went wrong on our side.', code: 'internal' };
};
