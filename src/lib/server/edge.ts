/**
 * The HTTP edge, written once for every entry: the SvelteKit hooks and routes, the fast path
 * served ahead of SvelteKit (fast-path.ts) and the WebSocket upgrade (ws.ts). Cookie and session
 * parsing, the origin check, body reading with both size limits, the error reply and the security
 * headers live here and nowhere else, so the three entries cannot drift apart. No framework types:
 * callers hand in header getters, node streams or web streams.
 */
import { ServerResponse, type IncomingMessage } from 'node:http';
import type { Duplex, Readable } from 'node:stream';
import { AppError } from '$lib/errors';
import type { z } from 'zod';
import { describeIssues, MAX_JSON_BYTES } from '$lib/schemas';
import { metrics } from './metrics';
import { SESSION_COOKIE } from './session';
import type { Config } from './config';

/** Reads one request header by lower-case name; repeated headers come back joined. */
export type HeaderGet = (name: string) => string | undefined;

export function nodeHeaders(req: IncomingMessage): HeaderGet {
	return (name) => {
		const value = req.headers[name];
		return Array.isArray(value) ? value.join(', ') : value;
	};
}

export function webHeaders(headers: Headers): HeaderGet {
	return (name) => headers.get(name) ?? undefined;
}

// --- Cookies and the session token -------------------------------------------------------------

/** A session token is `id.secret` in base32, well under this; anything longer is not one. */
const MAX_TOKEN_CHARS = 200;

/**
 * The first cookie of that name, percent-decoded where that is possible and raw where it is not
 * (as the `cookie` package that SvelteKit uses does): never throws, whatever the header holds.
 */
export function readCookie(header: string | undefined, name: string): string | undefined {
	if (!header) return undefined;
	for (const part of header.split(';')) {
		const index = part.indexOf('=');
		if (index <= 0 || part.slice(0, index).trim() !== name) continue;
		let value = part.slice(index + 1).trim();
		if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
		if (!value.includes('%')) return value;
		try {
			return decodeURIComponent(value);
		} catch {
			return value;
		}
	}
	return undefined;
}

/**
 * The session cookie's token: undefined when there is no session cookie, '' when there is one that
 * cannot be a token (so callers treat it as a session that does not exist: 401, cookie cleared).
 */
export function sessionToken(get: HeaderGet): string | undefined {
	const token = readCookie(get('cookie'), SESSION_COOKIE);
	if (token === undefined) return undefined;
	return token.length <= MAX_TOKEN_CHARS && /^[a-z0-9]+\.[a-z0-9]+$/.test(token) ? token : '';
}

// --- Origin -------------------------------------------------------------------------------------

const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export function isStateChanging(method: string | undefined): boolean {
	return STATE_CHANGING.has(method ?? '');
}

/** The settings adapter-node decides the origin by (see Config). */
export type OriginSettings = Pick<Config, 'origin' | 'protocolHeader' | 'hostHeader'>;

/**
 * The app's own origin, as adapter-node decides it: ORIGIN when set, else the PROTOCOL_HEADER and
 * HOST_HEADER of a trusted proxy, else the Host the request was addressed to (dev server).
 */
function appOrigin(get: HeaderGet, encrypted: boolean, { origin, protocolHeader, hostHeader }: OriginSettings): string {
	if (origin) return origin;
	const protocol = (protocolHeader && get(protocolHeader)) || (encrypted ? 'https' : 'http');
	const host = (hostHeader && get(hostHeader)) || get('host');
	return `${protocol}://${host}`;
}

export function nodeOrigin(req: IncomingMessage, settings: OriginSettings): string {
	return appOrigin(nodeHeaders(req), Boolean((req.socket as { encrypted?: boolean }).encrypted), settings);
}

/**
 * Refuses a request from another site: an Origin that is not ours, or a browser saying
 * Sec-Fetch-Site: cross-site. Callers apply it to state changes and WebSocket upgrades.
 */
export function crossSiteError(get: HeaderGet, expected: string, what = 'Requests'): AppError | null {
	const origin = get('origin');
	if ((origin !== undefined && origin !== expected) || get('sec-fetch-site') === 'cross-site') {
		return new AppError('forbidden', `${what} from other sites are not allowed.`);
	}
	return null;
}

// --- Bodies -------------------------------------------------------------------------------------

/**
 * Past the limit the rest of a body is still read and dropped, so the answer reaches a client that is
 * still sending (closing a socket with unread data resets it, and the answer is lost with it);
 * past this much more, the connection is closed instead.
 */
const DRAIN_BYTES = 1024 * 1024;

const tooLarge = () => new AppError('too_large', `The body is larger than ${MAX_JSON_BYTES / 1024} KiB.`);
const cutOff = () => new AppError('bad_request', 'The body ended before its declared length.');

function declaredTooLarge(declared: string | null | undefined, limit: number): boolean {
	return declared != null && Number(declared) > limit;
}

/**
 * Reads and drops the rest of a node request's body that is refused (or was read only in part,
 * like a refused upload), so the answer reaches a client still sending; past DRAIN_BYTES more it
 * closes the connection instead.
 */
export function discardNodeBody(req: Readable): void {
	if (dropping.has(req)) return;
	dropping.add(req);
	let dropped = 0;
	req.on('data', (chunk: Buffer) => {
		dropped += chunk.length;
		if (dropped > DRAIN_BYTES && !req.destroyed) req.destroy();
	});
	req.resume();
}

const dropping = new WeakSet<Readable>();

/**
 * The answer to a node request whose body was refused before it was read to its end. A body
 * declared no longer than DRAIN_BYTES is read and dropped, and the connection serves the client's
 * next request; a longer one, or one of unknown length, ends the connection after the answer, and
 * the answer says so (`connection: close`): a client that took the connection for reusable would
 * send its next request into the reset.
 */
export function writeRefusal(req: IncomingMessage, res: ServerResponse, reply: Reply): void {
	if (!req.readableEnded) {
		const declared = req.headers['content-length'];
		if (declared !== undefined && Number(declared) <= DRAIN_BYTES) discardNodeBody(req);
		else reply.headers.connection = 'close';
	}
	writeReply(res, reply);
}

/** JSON must be UTF-8; bytes that are not are refused rather than silently replaced. */
function decode(bytes: Uint8Array): string {
	try {
		return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
	} catch {
		throw new AppError('bad_request', 'The body is not valid UTF-8.');
	}
}

/** A node request's body as text, refused with 413 past `limit` declared or received. */
export function readNodeBody(req: IncomingMessage, limit = MAX_JSON_BYTES): Promise<string> {
	return new Promise((resolve, reject) => {
		let size = 0;
		let settled = false;
		const chunks: Buffer[] = [];
		const fail = (error: AppError) => {
			if (settled) return;
			settled = true;
			chunks.length = 0;
			reject(error);
		};
		req.on('data', (chunk: Buffer) => {
			size += chunk.length;
			if (settled) {
				if (size > limit + DRAIN_BYTES && !req.destroyed) req.destroy();
			} else if (size > limit) fail(tooLarge());
			else chunks.push(chunk);
		});
		req.once('end', () => {
			if (settled) return;
			settled = true;
			try {
				resolve(decode(Buffer.concat(chunks)));
			} catch (error) {
				reject(error);
			}
		});
		req.once('error', () => fail(cutOff()));
		req.once('close', () => req.complete || fail(cutOff()));
		if (declaredTooLarge(req.headers['content-length'], limit)) fail(tooLarge());
	});
}

/** A web request's body (SvelteKit, on adapter-node's stream) as text, with the same limits. */
export async function readWebBody(request: Request, limit = MAX_JSON_BYTES): Promise<string> {
	if (!request.body) return '';
	const reader = request.body.getReader();
	if (declaredTooLarge(request.headers.get('content-length'), limit)) {
		void drain(reader, 0, limit);
		throw tooLarge();
	}
	const chunks: Uint8Array[] = [];
	let size = 0;
	for (;;) {
		let result: ReadableStreamReadResult<Uint8Array>;
		try {
			result = await reader.read();
		} catch (error) {
			// adapter-node errors the stream with status 413 past BODY_SIZE_LIMIT or the declared length.
			throw (error as { status?: number })?.status === 413 ? tooLarge() : cutOff();
		}
		if (result.done) break;
		size += result.value.byteLength;
		if (size > limit) {
			void drain(reader, size, limit);
			throw tooLarge();
		}
		chunks.push(result.value);
	}
	return decode(Buffer.concat(chunks));
}

async function drain(reader: ReadableStreamDefaultReader<Uint8Array>, size: number, limit: number): Promise<void> {
	try {
		for (;;) {
			const { done, value } = await reader.read();
			if (done) return;
			size += value.byteLength;
			// Cancelling destroys the request and its socket: only for a client far past the limit.
			if (size > limit + DRAIN_BYTES) return void (await reader.cancel());
		}
	} catch {
		/* the stream errored (client gone, or adapter-node's own limit): nothing left to drain */
	}
}

/** JSON endpoints take only `application/json` (any parameters), else 415. */
export function requireJsonType(get: HeaderGet): void {
	if (!/^application\/json\s*(;|$)/i.test(get('content-type') ?? '')) {
		throw new AppError('unsupported_media_type', 'Send the body as JSON with content-type: application/json.');
	}
}

export function parseJson<S extends z.ZodType>(text: string, schema: S): z.infer<S> {
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

// --- Replies ------------------------------------------------------------------------------------

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
	'x-content-type-options': 'nosniff',
	'referrer-policy': 'same-origin',
	'x-frame-options': 'DENY'
};

const JSON_HEADERS: Readonly<Record<string, string>> = { 'content-type': 'application/json', 'cache-control': 'no-store' };

export interface Reply {
	status: number;
	headers: Record<string, string>;
	body: string;
}

export function jsonReply(data: unknown, status = 200): Reply {
	return { status, headers: { ...JSON_HEADERS }, body: JSON.stringify(data) };
}

/** The protocol's error shape (docs/protocol.md) and status; rate_limited carries retry-after. */
export function errorReply(error: AppError): Reply {
	metrics.errors.inc({ code: error.code });
	const reply = jsonReply(error.toBody(), error.status);
	if (error.code === 'rate_limited') reply.headers['retry-after'] = String(error.retryAfter ?? 1);
	// The rest of a body past a limit is read only so far (DRAIN_BYTES), then the connection is cut:
	// a client must not send its next request on it.
	if (error.code === 'too_large') reply.headers.connection = 'close';
	return reply;
}

/** For SvelteKit; its securityHeaders hook adds SECURITY_HEADERS. */
export function toResponse(reply: Reply): Response {
	return new Response(reply.body, { status: reply.status, headers: reply.headers });
}

/** On node's own response (the fast path, the last-resort guard), with the security headers. */
export function writeReply(res: ServerResponse, reply: Reply): void {
	res.writeHead(reply.status, { ...reply.headers, ...SECURITY_HEADERS, 'content-length': Buffer.byteLength(reply.body) });
	res.end(reply.body);
}

const REASONS: Record<number, string> = {
	400: 'Bad Request',
	401: 'Unauthorized',
	403: 'Forbidden',
	413: 'Content Too Large',
	429: 'Too Many Requests',
	500: 'Internal Server Error',
	503: 'Service Unavailable'
};

/** On a bare socket (a refused WebSocket upgrade, a request node could not parse); then closes it. */
export function writeRawReply(socket: Duplex, reply: Reply): void {
	const headers = { ...reply.headers, ...SECURITY_HEADERS, connection: 'close', 'content-length': String(Buffer.byteLength(reply.body)) };
	const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`);
	socket.end(`HTTP/1.1 ${reply.status} ${REASONS[reply.status] ?? 'Error'}\r\n${lines.join('')}\r\n${reply.body}`);
}

// --- Last resort ----------------------------------------------------------------------------------

/**
 * Answers a request that a handler failed on unexpectedly (the hosting server has logged it): 500
 * `internal` while no byte of a reply has gone out, else the connection is cut, as nothing else is
 * safe to say mid-reply.
 */
export function replyUnexpected(target: ServerResponse | Duplex): void {
	const reply = errorReply(new AppError('internal', 'Something went wrong on our side; try again.'));
	if (target instanceof ServerResponse) {
		if (target.headersSent || target.destroyed) return void target.destroy();
		for (const name of target.getHeaderNames()) target.removeHeader(name);
		writeReply(target, reply);
	} else if (target.writable && (target as { bytesWritten?: number }).bytesWritten === 0) {
		writeRawReply(target, reply);
	} else target.destroy();
}

const PARSE_ERRORS: Record<string, string> = {
	HPE_HEADER_OVERFLOW: 'The request headers are larger than the server accepts.',
	ERR_HTTP_REQUEST_TIMEOUT: 'The request took too long to arrive.',
	ERR_HTTP_HEADERS_TIMEOUT: 'The request headers took too long to arrive.'
};

/**
 * Answers a request node's HTTP parser refused (malformed framing, Content-Length together with
 * Transfer-Encoding, headers past the size limit) in the protocol's shape, where node alone would
 * answer with a bare status line. `inFlight` is whether a reply to an earlier request on the same
 * connection has begun: writing then would corrupt it.
 */
export function replyClientError(socket: Duplex, error: Error & { code?: string }, inFlight: boolean): void {
	if (error.code === 'ECONNRESET' || !socket.writable || inFlight) return void socket.destroy();
	const message = PARSE_ERRORS[error.code ?? ''] ?? 'The request is not valid HTTP/1.1.';
	writeRawReply(socket, errorReply(new AppError('bad_request', message)));
}
