/**
 * GET requests to URLs that users typed, made so that they cannot reach the server's own network
 * (SSRF): every hop's host is resolved and each of its addresses vetted (addresses.ts), and the
 * socket is then opened to the vetted address itself, with the original name as Host and TLS
 * SNI, so that a second DNS answer (rebinding) cannot slip in between check and connect.
 * Redirects are followed here, each target vetted again; one deadline covers the whole exchange.
 */
import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { Readable } from 'node:stream';
import { literalAddress, refusedAddress, refusedName } from './addresses';

export const PREVIEW_LIMITS = {
	redirects: 5,
	timeoutMs: 5000,
	pageBytes: 1024 * 1024,
	imageBytes: 5 * 1024 * 1024
};

export type FailureReason = 'bad_url' | 'refused' | 'redirects' | 'timeout' | 'too_large' | 'content_type' | 'status' | 'network';

/** Why a guarded fetch did not give a usable answer; `reason` is what the cache records. */
export class PreviewFetchError extends Error {
	name = 'PreviewFetchError';
	constructor(
		readonly reason: FailureReason,
		message: string,
		options?: { cause?: unknown }
	) {
		super(message, options);
	}
}

export interface ResolvedAddress {
	address: string;
	family: number;
}

/** All of a name's addresses; node's resolver (getaddrinfo, as the HTTP client would use) by default. */
export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>;

const systemResolver: Resolver = (hostname) => dns.promises.lookup(hostname, { all: true, verbatim: true });

export interface GuardOptions {
	/**
	 * `host:port` pairs let through whatever they resolve to and on any port
	 * (PREVIEW_ALLOW_PRIVATE_HOSTS): for tests against local servers, never for production.
	 */
	allow?: ReadonlySet<string>;
	resolve?: Resolver;
	/** One deadline for resolving, connecting, every redirect and reading the body. */
	timeoutMs?: number;
	maxRedirects?: number;
	/** Certificates to trust instead of the system's: for tests against a local TLS server. */
	ca?: string;
}

export interface VettedTarget {
	url: URL;
	/** The IP address the socket must go to. */
	address: string;
	family: number;
	/** Every address checked, the first one included: node may fall back among them (happy eyeballs). */
	addresses: ResolvedAddress[];
}

function effectivePort(url: URL): number {
	return url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
}

/** `new URL` with the checks every hop shares: http(s), no credentials, a host. */
export function previewUrl(raw: string | URL, base?: URL): URL {
	let url: URL;
	try {
		url = new URL(raw, base);
	} catch (cause) {
		throw new PreviewFetchError('bad_url', 'Not a URL.', { cause });
	}
	if (url.protocol !== 'http:' && url.protocol !== 'https:')
		throw new PreviewFetchError('bad_url', 'Only http and https links are fetched.');
	if (url.username || url.password) throw new PreviewFetchError('bad_url', 'A link with credentials is not fetched.');
	if (!url.hostname) throw new PreviewFetchError('bad_url', 'A link without a host is not fetched.');
	url.hash = '';
	return url;
}

/** Resolves the URL's host and refuses it unless every one of its addresses is public. */
export async function vet(url: URL, options: GuardOptions = {}, signal?: AbortSignal): Promise<VettedTarget> {
	const port = effectivePort(url);
	const allowed = options.allow?.has(`${url.hostname.toLowerCase()}:${port}`) ?? false;
	if (!allowed && port !== 80 && port !== 443) throw new PreviewFetchError('refused', `Port ${port} is not fetched.`);
	const literal = literalAddress(url.hostname);
	let addresses: ResolvedAddress[];
	if (literal) {
		addresses = [{ address: literal, family: literal.includes(':') ? 6 : 4 }];
	} else {
		const name = allowed ? null : refusedName(url.hostname);
		if (name) throw new PreviewFetchError('refused', `${url.hostname} is ${name}.`);
		addresses = await abortable((options.resolve ?? systemResolver)(url.hostname.replace(/\.$/, '')), signal).catch((cause) => {
			if (cause instanceof PreviewFetchError) throw cause;
			throw new PreviewFetchError('network', `${url.hostname} does not resolve.`, { cause });
		});
		if (addresses.length === 0) throw new PreviewFetchError('network', `${url.hostname} does not resolve.`);
	}
	if (!allowed) {
		// Every address, not just the first: the client may fall back to any of them.
		for (const { address } of addresses) {
			const why = refusedAddress(address);
			if (why) throw new PreviewFetchError('refused', `${url.hostname} resolves to ${why}.`);
		}
	}
	return { url, address: addresses[0].address, family: addresses[0].family, addresses };
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
	if (!signal) return promise;
	return new Promise<T>((resolve, reject) => {
		const onAbort = () => reject(signal.reason);
		if (signal.aborted) return onAbort();
		signal.addEventListener('abort', onAbort, { once: true });
		promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
	});
}

/** A lookup that answers every question with the vetted address: node's own DNS is never asked. */
function pinnedLookup(target: VettedTarget): LookupFunction {
	return (_hostname, options, callback) => {
		if (options.all) callback(null, target.addresses);
		else callback(null, target.address, target.family);
	};
}

function send(target: VettedTarget, options: GetOptions, signal: AbortSignal): Promise<http.IncomingMessage> {
	const { url } = target;
	const isHttps = url.protocol === 'https:';
	const hostname = literalAddress(url.hostname) ?? url.hostname;
	return new Promise((resolve, reject) => {
		const request = (isHttps ? https : http).request({
			protocol: url.protocol,
			hostname,
			port: effectivePort(url),
			path: url.pathname + url.search,
			method: 'GET',
			headers: {
				host: url.host,
				accept: options.accept,
				'accept-encoding': 'identity',
				'user-agent': 'DuetLinkPreview/1 (+link previews of a chat app)'
			},
			// A fresh socket each time: a pooled one may have been opened to another address.
			agent: false,
			lookup: pinnedLookup(target),
			// SNI is a name, never an IP address (RFC 6066).
			servername: literalAddress(url.hostname) ? undefined : url.hostname,
			...(isHttps && options.ca ? { ca: options.ca } : {}),
			signal
		});
		request.once('response', resolve);
		request.once('error', reject);
		request.end();
	});
}

export interface GuardedResponse {
	/** Where the answer came from, after redirects. */
	url: URL;
	status: number;
	/** The media type, lower case and without parameters ('' when the server sent none). */
	mediaType: string;
	charset: string | undefined;
	contentLength: number | undefined;
	/** The body, cut off (`truncate`) or failed with `too_large` (`fail`) past `maxBytes`. */
	body: AsyncIterable<Buffer>;
	/** Ends the exchange: the socket and the deadline. Safe to call more than once. */
	close(): void;
}

export interface GetOptions extends GuardOptions {
	accept: string;
	maxBytes: number;
	/** Past maxBytes: stop reading and keep what came (a page's head), or fail (an image). */
	overflow: 'truncate' | 'fail';
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** GET through the guard. A refusal, a timeout or a network failure is a PreviewFetchError. */
export async function guardedGet(raw: string | URL, options: GetOptions): Promise<GuardedResponse> {
	const timeoutMs = options.timeoutMs ?? PREVIEW_LIMITS.timeoutMs;
	const maxRedirects = options.maxRedirects ?? PREVIEW_LIMITS.redirects;
	const controller = new AbortController();
	const timer = setTimeout(
		() => controller.abort(new PreviewFetchError('timeout', `No complete answer within ${timeoutMs} ms.`)),
		timeoutMs
	);
	const close = () => {
		clearTimeout(timer);
		controller.abort();
	};
	try {
		let url = previewUrl(raw);
		for (let hop = 0; ; hop++) {
			const target = await vet(url, options, controller.signal);
			const response = await send(target, options, controller.signal).catch((cause) => {
				throw failure(controller.signal, cause);
			});
			const location = response.headers.location;
			if (REDIRECTS.has(response.statusCode ?? 0) && location) {
				response.destroy();
				if (hop >= maxRedirects) throw new PreviewFetchError('redirects', `More than ${maxRedirects} redirects.`);
				url = previewUrl(location, url);
				continue;
			}
			const encoding = response.headers['content-encoding']?.trim().toLowerCase();
			if (encoding && encoding !== 'identity') {
				// Asked for identity; decompressing would also lift the byte cap off what is parsed.
				response.destroy();
				throw new PreviewFetchError('content_type', `A ${encoding}-encoded answer, though none was asked for.`);
			}
			const [mediaType = '', ...params] = (response.headers['content-type'] ?? '').split(';');
			const charset = params.map((param) => param.trim().match(/^charset="?([^";]+)"?$/i)?.[1]).find((value) => value !== undefined);
			const length = Number(response.headers['content-length']);
			return {
				url,
				status: response.statusCode ?? 0,
				mediaType: mediaType.trim().toLowerCase(),
				charset,
				contentLength: Number.isSafeInteger(length) && length >= 0 ? length : undefined,
				body: capped(response, options, controller.signal, close),
				close
			};
		}
	} catch (error) {
		// Named before close() aborts the signal, which would otherwise pass for the deadline.
		const reason = failure(controller.signal, error);
		close();
		throw reason;
	}
}

/** A timeout shows up as whatever the socket threw when it was aborted; say it was the deadline. */
function failure(signal: AbortSignal, error: unknown): PreviewFetchError {
	if (error instanceof PreviewFetchError) return error;
	if (signal.aborted && signal.reason instanceof PreviewFetchError) return signal.reason;
	return new PreviewFetchError('network', 'The link could not be fetched.', { cause: error });
}

async function* capped(response: Readable, options: GetOptions, signal: AbortSignal, close: () => void): AsyncGenerator<Buffer> {
	let read = 0;
	try {
		for await (const chunk of response as AsyncIterable<Buffer>) {
			const room = options.maxBytes - read;
			if (chunk.length > room) {
				if (options.overflow === 'fail') throw new PreviewFetchError('too_large', `Larger than ${options.maxBytes} bytes.`);
				if (room > 0) yield chunk.subarray(0, room);
				return;
			}
			read += chunk.length;
			yield chunk;
		}
	} catch (error) {
		throw failure(signal, error);
	} finally {
		// Stops the download past the cap, or when the reader gave up early.
		response.destroy();
		close();
	}
}
