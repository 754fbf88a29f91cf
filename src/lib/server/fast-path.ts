/**
 * The two requests a browser on the SSE transport makes most, served on node's own request and
 * response by the production server, ahead of SvelteKit: POST /api/messages (one per message) and
 * GET /api/events (held open for hours). Through the framework, each send cost more CPU than
 * storing the message (Web Request/Response objects, hooks, routing), and each open stream held
 * the framework's request objects for its whole life. Only the plain case is taken here: a
 * same-origin request (JSON, for sends) with a session that is valid and needs nothing done (no
 * renewal, no expiry). Anything else is decided before the body is read and goes on to the
 * SvelteKit routes, which apply the same checks in full. Both sides check and answer through
 * edge.ts, so the answers are the routes' (status, body, headers): parity.test.ts compares them.
 * Ahead of both, and with FAST_PATH=off too, it refuses an /api path that SvelteKit would not route
 * as sent (see `badApiPath`), which SvelteKit would answer before any route or hook could give the
 * protocol's error shape.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sha256 } from '@oslojs/crypto/sha2';
import { constantTimeEqual } from '@oslojs/crypto/subtle';
import { createUploadSchema, sendSchema } from '$lib/schemas';
import {
	crossSiteError,
	errorReply,
	jsonReply,
	nodeHeaders,
	nodeOrigin,
	parseJson,
	readNodeBody,
	requireJsonType,
	SECURITY_HEADERS,
	type HeaderGet,
	sessionToken,
	writeRefusal,
	writeReply
} from './edge';
import { AppError } from '$lib/errors';
import { toAppError } from './failures';
import { logIfUnexpected } from './guard';
import { metrics } from './metrics';
import type { Services } from './services';
import type { ValidatedSession } from './session';
import { declaredLength, patchOffset, uploadErrorReply, uploadReply } from './attachments/upload-replies';
import { attachEventStream, nodeOutput, SSE_HEADERS } from './sse';

/** What the fast path needs of the services. */
export type FastPathDeps = Pick<Services, 'config' | 'sessions' | 'chat' | 'streams' | 'attachments' | 'uploads'>;

/**
 * Returns false (synchronously) for requests this does not take; SvelteKit serves those. Runs for
 * every request, FAST_PATH=off included: then it only refuses bad /api paths.
 */
export function fastRequest(app: FastPathDeps, req: IncomingMessage, res: ServerResponse): false | Promise<boolean> {
	const url = req.url ?? '';
	const refused = badApiPath(url);
	if (refused) {
		writeReply(res, errorReply(refused));
		return Promise.resolve(true);
	}
	// Always here, FAST_PATH=off too: through SvelteKit the body would be cut at BODY_SIZE_LIMIT.
	const path = url.split('?')[0];
	if (path === '/metrics') return serveMetrics(app, req, res);
	if (req.method === 'POST' && path === '/api/attachments') return serveUpload(app, req, res);
	const resumable = RESUMABLE.exec(path);
	if (resumable) return serveResumable(app, req, res, resumable[1]);
	if (!app.config.fastPath) return false;
	const send = req.method === 'POST' && url === '/api/messages';
	const events = req.method === 'GET' && (url === '/api/events' || url.startsWith('/api/events?'));
	if (!send && !events) return false;
	const { config } = app;
	// Without ORIGIN, adapter-node's idea of the app's origin depends on proxy settings: leave it to Kit.
	if (!config.origin) return false;
	const headers = nodeHeaders(req);
	if (crossSiteError(headers, nodeOrigin(req, config))) return false;
	if (send) {
		try {
			requireJsonType(headers);
		} catch {
			return false;
		}
	}
	const token = sessionToken(headers);
	if (!token) return false;
	return send ? serve(app, req, res, token) : serveEvents(app, req, res, token);
}

/** Resumable uploads: the collection, or one of them (whatever the id: a bad one is the service's 404). */
const RESUMABLE = /^\/api\/attachments\/uploads(?:\/([^/]*))?$/;

/** `/api/` in a path that cannot be decoded; its letters may come percent-encoded (`/%61pi/`). */
const API_PREFIX = /^\/(?:a|%61)(?:p|%70)(?:i|%69)\//;

/**
 * The protocol's 400 for an /api path that SvelteKit answers before any route or hook runs, or
 * null for any other path:
 * - one that cannot be percent-decoded, which it refuses in its own shape (an API client, say a
 *   reaction's emoji badly escaped, gets the protocol's error instead);
 * - one with a `.` or `..` segment, raw or percent-encoded in either case (`%2e`, `.%2E`), which
 *   it answers with a 308 to the path resolved: a client that follows it (method kept, as 308
 *   says) turns DELETE …/reactions/.. into DELETE of the message.
 */
export function badApiPath(url: string): AppError | null {
	const path = url.split('?')[0];
	// The decoded path is used below: a bare decodeURI() call in a try is dropped by the bundler as pure.
	let decoded: string;
	try {
		decoded = decodeURI(path);
	} catch {
		return API_PREFIX.test(path) ? new AppError('bad_request', 'The URL is not valid percent-encoded UTF-8.') : null;
	}
	if (!decoded.startsWith('/api/')) return null;
	// decodeURI leaves %2F encoded, so these are the segments as the URL parser sees them ("%2e" is ".").
	if (decoded.split('/').some((segment) => segment === '.' || segment === '..')) {
		return new AppError('bad_request', 'The URL has a "." or ".." segment.');
	}
	return null;
}

/** The session when it is valid and needs nothing done; else null, and SvelteKit takes the request. */
async function plainSession(app: FastPathDeps, token: string): Promise<ValidatedSession | null> {
	try {
		return await app.sessions.peek(token);
	} catch {
		return null;
	}
}

async function serveEvents(app: FastPathDeps, req: IncomingMessage, res: ServerResponse, token: string): Promise<boolean> {
	const validated = await plainSession(app, token);
	if (!validated) return false;
	const query = new URL(req.url ?? '', 'http://internal').searchParams.get('cursor');
	const lastEventId = req.headers['last-event-id'];
	const cursor = (typeof lastEventId === 'string' ? lastEventId : undefined) ?? query ?? undefined;
	let finish: () => void;
	try {
		// Headers go out with the first write, so a stream that fails to open still gets its error reply.
		finish = await attachEventStream(
			app,
			validated.user,
			validated.session.id,
			cursor,
			nodeOutput(res, () => {
				if (!res.headersSent) res.writeHead(200, { ...SSE_HEADERS, ...SECURITY_HEADERS });
			})
		);
	} catch (error) {
		if (res.headersSent) {
			// No status left to answer with: the stream just ends, and EventSource retries.
			logIfUnexpected('SSE stream start', { user: validated.user.id }, error);
			res.destroy();
		} else writeReply(res, errorReply(toAppError(error)));
		return true;
	}
	res.once('close', finish);
	if (res.destroyed) finish();
	return true;
}

async function serve(app: FastPathDeps, req: IncomingMessage, res: ServerResponse, token: string): Promise<boolean> {
	const validated = await plainSession(app, token);
	if (!validated) return false;
	try {
		const send = parseJson(await readNodeBody(req), sendSchema);
		writeReply(res, jsonReply(await app.chat.send(validated.user.id, send)));
	} catch (error) {
		writeRefusal(req, res, errorReply(toAppError(error)));
	}
	return true;
}

/**
 * POST /api/attachments on node's own request, so the body streams from the socket into the store
 * with no framework limit or buffer in between. The checks are those of every state change (the
 * origin, then the session, proved in full as the WebSocket upgrade does); the upload's own (type,
 * size, rate, quota) are attachments/service.ts's.
 */
async function serveUpload(app: FastPathDeps, req: IncomingMessage, res: ServerResponse): Promise<boolean> {
	const headers = nodeHeaders(req);
	try {
		const refused = crossSiteError(headers, nodeOrigin(req, app.config));
		if (refused) throw refused;
		const token = sessionToken(headers);
		const validated = token ? await app.sessions.validate(token) : null;
		if (!validated) throw new AppError('unauthorized', 'Sign in to continue.');
		const attachment = await app.attachments.upload(validated.user.id, headers('content-type'), headers('content-length'), req);
		writeReply(res, jsonReply({ attachment }, 201));
	} catch (error) {
		writeRefusal(req, res, errorReply(toAppError(error)));
	}
	return true;
}

/**
 * GET /metrics for the operator's Prometheus: off (404, as if it did not exist) without
 * METRICS_TOKEN, else only with `Authorization: Bearer <METRICS_TOKEN>` (compared in constant
 * time), so the process's internals are never public.
 */
async function serveMetrics(app: FastPathDeps, req: IncomingMessage, res: ServerResponse): Promise<boolean> {
	const token = app.config.metricsToken;
	if (!token) {
		writeRefusal(req, res, errorReply(new AppError('not_found', 'There is nothing here.')));
		return true;
	}
	if (!bearerMatches(req.headers.authorization, token)) {
		const reply = errorReply(new AppError('unauthorized', 'GET /metrics needs Authorization: Bearer <METRICS_TOKEN>.'));
		reply.headers['www-authenticate'] = 'Bearer realm="metrics"';
		writeRefusal(req, res, reply);
		return true;
	}
	if (req.method !== 'GET' && req.method !== 'HEAD') {
		writeRefusal(req, res, errorReply(new AppError('not_found', 'GET /metrics only.')));
		return true;
	}
	const body = await metrics.registry.metrics();
	res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': metrics.registry.contentType, 'cache-control': 'no-store' });
	res.end(req.method === 'HEAD' ? undefined : body);
	return true;
}

function bearerMatches(header: string | undefined, token: string): boolean {
	const given = /^Bearer (.+)$/i.exec(header ?? '')?.[1] ?? '';
	const digest = (text: string) => sha256(new TextEncoder().encode(text));
	return constantTimeEqual(digest(given), digest(token));
}

/** The session for a state change (origin first) or a read, proved in full; else 403/401. */
async function uploaderOf(app: FastPathDeps, req: IncomingMessage, headers: HeaderGet, changes: boolean) {
	if (changes) {
		const refused = crossSiteError(headers, nodeOrigin(req, app.config));
		if (refused) throw refused;
	}
	const token = sessionToken(headers);
	const validated = token ? await app.sessions.validate(token) : null;
	if (!validated) throw new AppError('unauthorized', 'Sign in to continue.');
	return validated.user.id;
}

/**
 * Resumable uploads (docs/protocol.md "Resumable uploads") on node's own request: POST creates
 * one (a small JSON body), PATCH streams bytes into it from the socket with no framework limit in
 * between, GET (and HEAD) says how far it is. The HTTP checks are here; what an upload allows is
 * attachments/resumable.ts's.
 */
async function serveResumable(app: FastPathDeps, req: IncomingMessage, res: ServerResponse, id: string | undefined): Promise<boolean> {
	const headers = nodeHeaders(req);
	const method = req.method ?? '';
	try {
		if (id === undefined) {
			if (method !== 'POST') throw new AppError('not_found', 'Create an upload with POST.');
			const userId = await uploaderOf(app, req, headers, true);
			requireJsonType(headers);
			const upload = await app.uploads.create(userId, parseJson(await readNodeBody(req), createUploadSchema));
			writeReply(res, uploadReply({ upload }, 201));
		} else if (method === 'GET' || method === 'HEAD') {
			const userId = await uploaderOf(app, req, headers, false);
			const reply = uploadReply(await app.uploads.status(userId, id));
			if (method === 'HEAD') reply.body = '';
			writeReply(res, reply);
		} else if (method === 'PATCH') {
			const userId = await uploaderOf(app, req, headers, true);
			const status = await app.uploads.append(userId, id, patchOffset(headers), declaredLength(headers), req);
			writeReply(res, uploadReply(status, status.attachment ? 201 : 200));
		} else throw new AppError('not_found', 'An upload takes GET, HEAD or PATCH.');
	} catch (error) {
		writeRefusal(req, res, uploadErrorReply(error));
	}
	return true;
}
