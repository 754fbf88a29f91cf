/**
 * HTTP/1.1 by hand over a TCP socket, for requests fetch refuses to send (Content-Length together
 * with Transfer-Encoding, broken chunking, bytes that are not UTF-8, 20 KiB of headers) and for
 * reading exactly what the server wrote back, framing included.
 */
import net from 'node:net';
import { expect } from 'vitest';
import { ERRORS, isErrorCode } from '../../src/lib/protocol';

export interface RawResponse {
	status: number;
	/** Lower-case names; repeated headers joined with ', ' (set-cookie with '\n'). */
	headers: Record<string, string>;
	/** The body as received (de-chunked); for a stream, what arrived before `until` matched. */
	body: Buffer;
	/** The response framing: 'length', 'chunked' or 'close' (body ends with the connection). */
	framing: 'length' | 'chunked' | 'close';
	text(): string;
	json(): any;
}

export interface RawRequest {
	method: string;
	path: string;
	headers?: Array<[string, string]>;
	/** Sent as is after the blank line: the caller frames it (or not). */
	body?: string | Buffer;
	/** Half-close after writing, for bodies shorter than they claim. */
	endAfterWrite?: boolean;
	/**
	 * For responses that never end (event streams, an upgraded socket): resolve once the body
	 * received so far satisfies this, then drop the connection.
	 */
	until?: (body: string) => boolean;
	timeoutMs?: number;
}

/** Frames `body` as chunks of `size` bytes. */
export function chunked(body: string | Buffer, size = 8192): Buffer {
	const bytes = Buffer.from(body);
	const parts: Buffer[] = [];
	for (let i = 0; i < bytes.length; i += size) {
		const chunk = bytes.subarray(i, i + size);
		parts.push(Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n'));
	}
	parts.push(Buffer.from('0\r\n\r\n'));
	return Buffer.concat(parts);
}

/**
 * Sends one request on a fresh connection and resolves with the response. Rejects only when the
 * connection ends without a complete response, which for the server under test is itself a bug.
 */
export function rawRequest(port: number, request: RawRequest): Promise<RawResponse> {
	return new Promise((resolve, reject) => {
		const socket = net.connect(port, '127.0.0.1');
		let received = Buffer.alloc(0);
		let done = false;
		const timer = setTimeout(
			() => finish(new Error(`no complete response within ${request.timeoutMs ?? 10_000} ms`)),
			request.timeoutMs ?? 10_000
		);
		const finish = (outcome: Error | RawResponse) => {
			if (done) return;
			done = true;
			clearTimeout(timer);
			socket.destroy();
			if (outcome instanceof Error) reject(outcome);
			else resolve(outcome);
		};
		socket.on('connect', () => {
			const head = [`${request.method} ${request.path} HTTP/1.1`, `host: 127.0.0.1:${port}`];
			for (const [name, value] of request.headers ?? []) head.push(`${name}: ${value}`);
			socket.write(Buffer.concat([Buffer.from(`${head.join('\r\n')}\r\n\r\n`), Buffer.from(request.body ?? '')]));
			if (request.endAfterWrite) socket.end();
		});
		socket.on('data', (chunk) => {
			received = Buffer.concat([received, chunk]);
			const parsed = parse(received, false);
			if (parsed && (parsed.complete || request.until?.(parsed.response.body.toString()))) finish(parsed.response);
		});
		socket.on('error', () => {});
		socket.on('close', () => {
			const parsed = parse(received, true);
			finish(
				parsed?.complete
					? parsed.response
					: new Error(`connection closed without a complete response: ${JSON.stringify(received.toString().slice(0, 300))}`)
			);
		});
	});
}

function parse(data: Buffer, closed: boolean): { response: RawResponse; complete: boolean } | null {
	const end = data.indexOf('\r\n\r\n');
	if (end === -1) return null;
	const [statusLine, ...lines] = data.subarray(0, end).toString('latin1').split('\r\n');
	const status = Number(statusLine.split(' ')[1]);
	const headers: Record<string, string> = {};
	for (const line of lines) {
		const colon = line.indexOf(':');
		const name = line.slice(0, colon).trim().toLowerCase();
		const value = line.slice(colon + 1).trim();
		headers[name] = name in headers ? `${headers[name]}${name === 'set-cookie' ? '\n' : ', '}${value}` : value;
	}
	const rest = data.subarray(end + 4);
	const make = (body: Buffer, framing: RawResponse['framing']): RawResponse => ({
		status,
		headers,
		body,
		framing,
		text: () => body.toString(),
		json: () => JSON.parse(body.toString())
	});
	if (status === 101 || status === 204 || status === 304) return { response: make(rest, 'length'), complete: status !== 101 || closed };
	if (headers['content-length'] !== undefined) {
		const length = Number(headers['content-length']);
		return { response: make(rest.subarray(0, length), 'length'), complete: rest.length >= length };
	}
	if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
		const parts: Buffer[] = [];
		let offset = 0;
		for (;;) {
			const lineEnd = rest.indexOf('\r\n', offset);
			if (lineEnd === -1) break;
			const size = parseInt(rest.subarray(offset, lineEnd).toString(), 16);
			if (size === 0) return { response: make(Buffer.concat(parts), 'chunked'), complete: true };
			if (rest.length < lineEnd + 2 + size + 2) break;
			parts.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size));
			offset = lineEnd + 2 + size + 2;
		}
		return { response: make(Buffer.concat(parts), 'chunked'), complete: false };
	}
	return { response: make(rest, 'close'), complete: closed };
}

/** The handshake headers of a WebSocket upgrade, for `rawRequest` on /ws. */
export const UPGRADE_HEADERS: Array<[string, string]> = [
	['upgrade', 'websocket'],
	['connection', 'Upgrade'],
	['sec-websocket-key', 'dGhlIHNhbXBsZSBub25jZQ=='],
	['sec-websocket-version', '13']
];

/** Status under 500; any refusal is `{"error": {code, message}}` with the code's own status. */
export function expectProtocolAnswer(res: RawResponse, context = '') {
	const where = `${res.status} ${res.body.toString().slice(0, 300)} ${context}`;
	expect(res.status, where).toBeGreaterThanOrEqual(101);
	expect(res.status, where).toBeLessThan(500);
	if (res.status < 400) return;
	expect(res.headers['content-type'], where).toBe('application/json');
	const body = res.json();
	expect(Object.keys(body), where).toEqual(['error']);
	const code: unknown = body.error.code;
	expect(isErrorCode(code) ? ERRORS[code].status : undefined, where).toBe(res.status);
	expect(typeof body.error.message, where).toBe('string');
	expect(res.headers['x-content-type-options'], where).toBe('nosniff');
	if (res.status === 429) expect(res.headers['retry-after'], where).toMatch(/^\d+$/);
}
