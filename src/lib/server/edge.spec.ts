import { PassThrough } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { crossSiteError, readCookie, readNodeBody, readWebBody, sessionToken, type HeaderGet } from './edge';

const headers =
	(values: Record<string, string>): HeaderGet =>
	(name) =>
		values[name];

describe('readCookie', () => {
	it('never throws, whatever the header holds', () => {
		fc.assert(
			fc.property(fc.string({ unit: 'binary' }), fc.string({ maxLength: 10 }), (header, name) => {
				readCookie(header, name);
				readCookie(`${name}=${header}`, name);
			})
		);
		expect(readCookie('session=%', 'session')).toBe('%');
		expect(readCookie('session=%E0%A4%A', 'session')).toBe('%E0%A4%A');
	});

	it('decodes what it can and takes the first of repeated names, as the cookie package does', () => {
		expect(readCookie('a=1; session=x%2Ey; session=z', 'session')).toBe('x.y');
		expect(readCookie(' session = "quoted" ', 'session')).toBe('quoted');
		expect(readCookie('sessions=1; xsession=2', 'session')).toBeUndefined();
	});
});

describe('sessionToken', () => {
	it("is '' for a session cookie that cannot be a token, so it counts as a session that does not exist", () => {
		expect(sessionToken(headers({ cookie: 'session=%' }))).toBe('');
		expect(sessionToken(headers({ cookie: `session=${'a'.repeat(150)}.${'b'.repeat(150)}` }))).toBe('');
		expect(sessionToken(headers({ cookie: 'session=abc.def' }))).toBe('abc.def');
		expect(sessionToken(headers({ cookie: 'other=1' }))).toBeUndefined();
	});
});

describe('crossSiteError', () => {
	it('refuses a foreign Origin and Sec-Fetch-Site: cross-site; no Origin is fine', () => {
		const own = 'https://chat.example';
		expect(crossSiteError(headers({}), own)).toBeNull();
		expect(crossSiteError(headers({ origin: own }), own)).toBeNull();
		expect(crossSiteError(headers({ origin: 'null' }), own)?.code).toBe('forbidden');
		expect(crossSiteError(headers({ origin: `${own}.evil` }), own)?.code).toBe('forbidden');
		expect(crossSiteError(headers({ origin: own, 'sec-fetch-site': 'cross-site' }), own)?.code).toBe('forbidden');
	});
});

function nodeRequest(declared?: number) {
	const stream = new PassThrough() as unknown as IncomingMessage & PassThrough;
	Object.assign(stream, { headers: declared === undefined ? {} : { 'content-length': String(declared) }, complete: false });
	stream.on('end', () => Object.assign(stream, { complete: true }));
	return stream;
}

describe('body limits', () => {
	it('node: 413 when declared past the limit, or when the streamed bytes pass it', async () => {
		await expect(readNodeBody(nodeRequest(11), 10)).rejects.toMatchObject({ code: 'too_large' });
		const streamed = nodeRequest();
		const reading = readNodeBody(streamed, 10);
		streamed.write('123456');
		streamed.write('789012');
		await expect(reading).rejects.toMatchObject({ code: 'too_large' });
		const fine = nodeRequest();
		const ok = readNodeBody(fine, 10);
		fine.end('1234567890');
		await expect(ok).resolves.toBe('1234567890');
	});

	it('node: bytes that are not UTF-8 are 400', async () => {
		const req = nodeRequest();
		const reading = readNodeBody(req, 10);
		req.end(Buffer.from([0xc3, 0x28]));
		await expect(reading).rejects.toMatchObject({ code: 'bad_request' });
	});

	it('web: the same two limits, and an errored stream with status 413 is too_large', async () => {
		const body = (chunks: string[], error?: unknown) =>
			new ReadableStream<Uint8Array>({
				start(controller) {
					for (const c of chunks) controller.enqueue(new TextEncoder().encode(c));
					if (error) controller.error(error);
					else controller.close();
				}
			});
		const request = (stream: ReadableStream<Uint8Array>, declared?: number) =>
			new Request('http://x/', {
				method: 'POST',
				body: stream,
				duplex: 'half',
				headers: declared ? { 'content-length': String(declared) } : {}
			} as RequestInit);
		await expect(readWebBody(request(body(['x']), 11), 10)).rejects.toMatchObject({ code: 'too_large' });
		await expect(readWebBody(request(body(['123456', '789012'])), 10)).rejects.toMatchObject({ code: 'too_large' });
		await expect(readWebBody(request(body(['12'], Object.assign(new Error('limit'), { status: 413 }))), 10)).rejects.toMatchObject({
			code: 'too_large'
		});
		await expect(readWebBody(request(body(['12'], new Error('aborted'))), 10)).rejects.toMatchObject({ code: 'bad_request' });
		await expect(readWebBody(request(body(['12', '34'])), 10)).resolves.toBe('1234');
	});
});
