import type { Handle, HandleServerError, ServerInit } from '@sveltejs/kit';
import { sequence } from '@sveltejs/kit/hooks';
import { building } from '$app/environment';
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
import { clientAddress, errorResponse } from '$lib/server/http';
import { registerRuntime } from '$lib/server/runtime';
import { handleUpgrade } from '$lib/server/ws';
import { fastRequest } from '$lib/server/fast-path';
import { initServices, services } from '$lib/server/services';

export const init: ServerInit = async () => {
	// Prerendering (the offline shell) needs no database; the build has no PGlite worker yet.
	if (building) return;
	const app = await initServices();
	registerRuntime({
		upgrade: (req, socket, head) => handleUpgrade(app, req, socket, head),
		// Always: with FAST_PATH=off it still refuses the /api paths SvelteKit would not route (fast-path.ts).
		request: (req, res) => fastRequest(app, req, res),
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

/**
 * Routes find the services in `locals`, so that what a route depends on arrives with its event;
 * `init` has made them before the first request.
 */
const provideServices: Handle = ({ event, resolve }) => {
	if (!building) event.locals.services = services();
	return resolve(event);
};

const HEALTH_PATHS = new Set(['/healthz', '/readyz']);

const authenticate: Handle = async ({ event, resolve }) => {
	event.locals.user = null;
	event.locals.session = null;
	const token = sessionToken(webHeaders(event.request.headers));
	// Health probes must answer whatever state the database is in, cookie or not.
	if (token !== undefined && !HEALTH_PATHS.has(event.url.pathname)) {
		const { sessions } = event.locals.services;
		let result;
		try {
			result = token ? await sessions.validate(token, new Date(), clientAddress(event)) : null;
		} catch (error) {
			return errorResponse(toAppError(error));
		}
		if (result) {
			event.locals.user = result.user;
			event.locals.session = result.session;
			if (result.renewed) {
				setSessionCookie(event.cookies, event.url, token, sessions.expiresAt(result.session));
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

export const handle = sequence(securityHeaders, guardOrigin, provideServices, authenticate);

export const handleError: HandleServerError = ({ error, status }) => {
	if (status >= 500) console.error(error);
	return { message: status === 404 ? 'Not found.' : 'Something went wrong on our side.', code: 'internal' };
};
