/**
 * The two requests a browser on the SSE transport makes most, served on node's own request and
 * response by the production server, ahead of SvelteKit: POST /api/messages (one per message) and
 * GET /api/events (held open for hours). Through the framework, each send cost more CPU than
 * storing the message (Web Request/Response objects, hooks, routing), and each open stream held
 * the framework's request objects for its whole life. Only the plain case is taken here: a
 * same-origin request (JSON with a declared length, for sends) with a session that is valid and
 * needs nothing done (no renewal, no expiry). Anything else is decided before the body is read and
 * goes on to the SvelteKit routes, which apply the same checks in full. Answers are the routes':
 * same status, body and headers (hooks.server.ts securityHeaders, http.ts json(), sse.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AppError } from '$lib/errors';
import { describeIssues, MAX_JSON_BYTES, sendSchema } from '$lib/schemas';
import { toAppError } from './failures';
import { logIfUnexpected } from './guard';
import { services, type Services } from './services';
import { peekSessionToken, SESSION_COOKIE, type ValidatedSession } from './session';
import { attachEventStream, SSE_HEADERS } from './sse';
import { readCookie } from './ws';

const SECURITY_HEADERS = { 'x-content-type-options': 'nosniff', 'referrer-policy': 'same-origin', 'x-frame-options': 'DENY' };
const JSON_HEADERS = { 'content-type': 'application/json', 'cache-control': 'no-store', ...SECURITY_HEADERS };

/** Returns false (synchronously) for requests this does not take; SvelteKit serves those. */
export function fastRequest(req: IncomingMessage, res: ServerResponse): false | Promise<boolean> {
	const url = req.url ?? '';
	const send = req.method === 'POST' && url === '/api/messages';
	const events = req.method === 'GET' && (url === '/api/events' || url.startsWith('/api/events?'));
	if ((!send && !events) || !process.env.ORIGIN) return false;
	const origin = req.headers.origin;
	if ((origin !== undefined && origin !== new URL(process.env.ORIGIN).origin) || req.headers['sec-fetch-site'] === 'cross-site') return false;
	if (send && (!/^application\/json\s*(;|$)/i.test(req.headers['content-type'] ?? '') || req.headers['content-length'] === undefined)) return false;
	const token = readCookie(req.headers.cookie, SESSION_COOKIE);
	if (!token) return false;
	return send ? serve(req, res, token) : serveEvents(req, res, token);
}

/** The session when it is valid and needs nothing done; else null, and SvelteKit takes the request. */
async function plainSession(app: Services, token: string): Promise<ValidatedSession | null> {
	try {
		return await peekSessionToken(app.database.db, token, app.sessionPolicy);
	} catch {
		return null;
	}
}

async function serveEvents(req: IncomingMessage, res: ServerResponse, token: string): Promise<boolean> {
	const app = services();
	const validated = await plainSession(app, token);
	if (!validated) return false;
	const query = new URL(req.url ?? '', 'http://internal').searchParams.get('cursor');
	const lastEventId = req.headers['last-event-id'];
	const cursor = (typeof lastEventId === 'string' ? lastEventId : undefined) ?? query ?? undefined;
	try {
		app.chat.checkConnectionLimit(validated.user.id);
	} catch (error) {
		replyError(res, error);
		return true;
	}
	res.writeHead(200, { ...SSE_HEADERS, ...SECURITY_HEADERS });
	let finish: () => void;
	try {
		finish = await attachEventStream(app, validated.user, validated.session.id, cursor, {
			write: (text) => void res.write(text),
			// The response's own buffer and its socket's: everything not yet handed to the kernel.
			queued: () => res.writableLength,
			end: () => res.end(),
			destroy: () => res.destroy()
		});
	} catch (error) {
		// The headers are out, so there is no status left to answer with: the stream just ends, and
		// EventSource retries. Only an error other than the database being down is a bug.
		logIfUnexpected('SSE stream start', { user: validated.user.id }, error);
		res.end();
		return true;
	}
	res.once('close', finish);
	if (res.destroyed) finish();
	return true;
}

async function serve(req: IncomingMessage, res: ServerResponse, token: string): Promise<boolean> {
	const app = services();
	const validated = await plainSession(app, token);
	if (!validated) return false;
	try {
		const text = await readBody(req);
		let value: unknown;
		try {
			value = JSON.parse(text);
		} catch {
			throw new AppError('bad_request', 'The body is not valid JSON.');
		}
		const parsed = sendSchema.safeParse(value);
		if (!parsed.success) throw new AppError('bad_request', describeIssues(parsed.error));
		reply(res, 200, await app.chat.send(validated.user.id, parsed.data));
	} catch (error) {
		replyError(res, error);
	}
	return true;
}

const TOO_LARGE = () => new AppError('too_large', `The body is larger than ${MAX_JSON_BYTES / 1024} KiB.`);

function readBody(req: IncomingMessage): Promise<string> {
	if (Number(req.headers['content-length']) > MAX_JSON_BYTES) return Promise.reject(TOO_LARGE());
	return new Promise((resolve, reject) => {
		const chunks: Buffer[] = [];
		let size = 0;
		req.on('data', (chunk: Buffer) => {
			size += chunk.length;
			if (size > MAX_JSON_BYTES) {
				req.removeAllListeners('data');
				req.resume();
				reject(TOO_LARGE());
			} else chunks.push(chunk);
		});
		req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
		req.on('error', () => reject(TOO_LARGE()));
	});
}

function replyError(res: ServerResponse, error: unknown) {
	const appError = toAppError(error);
	reply(res, appError.status, appError.toBody(), appError.code === 'rate_limited' ? { 'retry-after': String(appError.retryAfter ?? 1) } : {});
}

function reply(res: ServerResponse, status: number, body: unknown, extra: Record<string, string> = {}) {
	const text = JSON.stringify(body);
	res.writeHead(status, { ...JSON_HEADERS, ...extra, 'content-length': Buffer.byteLength(text) });
	res.end(text);
}
