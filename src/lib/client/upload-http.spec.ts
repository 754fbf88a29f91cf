// @vitest-environment node
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AppError } from '$lib/errors';
import { UnreachableError } from './api';
import { UploadAborted, uploadFile } from './upload-http';

/** Just enough of XMLHttpRequest for uploadFile: the spec plays the server. */
class FakeXhr {
	static last: FakeXhr | null = null;
	method = '';
	url = '';
	withCredentials = false;
	status = 0;
	responseText = '';
	body: FormData | null = null;
	headers: Record<string, string> = {};
	upload: { onprogress: ((event: { lengthComputable: boolean; loaded: number; total: number }) => void) | null } = { onprogress: null };
	onload: (() => void) | null = null;
	onerror: (() => void) | null = null;
	onabort: (() => void) | null = null;
	constructor() {
		FakeXhr.last = this;
	}
	open(method: string, url: string) {
		this.method = method;
		this.url = url;
	}
	send(body: FormData) {
		this.body = body;
	}
	abort() {
		this.onabort?.();
	}
	getResponseHeader(name: string) {
		return this.headers[name] ?? null;
	}
	answer(status: number, body: string, headers: Record<string, string> = {}) {
		this.status = status;
		this.responseText = body;
		this.headers = headers;
		this.onload?.();
	}
}

const original = globalThis.XMLHttpRequest;
beforeEach(() => {
	globalThis.XMLHttpRequest = FakeXhr as unknown as typeof XMLHttpRequest;
});
afterEach(() => {
	globalThis.XMLHttpRequest = original;
});

const start = (signal?: AbortSignal, onProgress?: (f: number) => void) =>
	uploadFile({ conversationId: 'c1', blob: new Blob(['abc']), name: 'a.txt', signal, onProgress });

describe('uploadFile', () => {
	it('posts the conversation and then the file as multipart, reports progress, and answers the stored attachment', async () => {
		const seen: number[] = [];
		const upload = start(undefined, (f) => seen.push(f));
		const xhr = FakeXhr.last!;
		expect([xhr.method, xhr.url, xhr.withCredentials]).toEqual(['POST', '/api/attachments', true]);
		expect([...xhr.body!.keys()]).toEqual(['conversationId', 'file']);
		expect(xhr.body!.get('conversationId')).toBe('c1');
		expect((xhr.body!.get('file') as File).name).toBe('a.txt');
		xhr.upload.onprogress?.({ lengthComputable: true, loaded: 1, total: 4 });
		const attachment = { id: 'x', name: 'a.txt' };
		xhr.answer(201, JSON.stringify({ attachment }));
		await expect(upload).resolves.toEqual(attachment);
		expect(seen).toEqual([0.25]);
	});

	it("carries the server's error code and message", async () => {
		const upload = start();
		FakeXhr.last!.answer(415, JSON.stringify({ error: { code: 'unsupported_media_type', message: 'No executables.' } }));
		await expect(upload).rejects.toMatchObject({ code: 'unsupported_media_type', message: 'No executables.' });
	});

	it('reads a proxy error page by its status', async () => {
		const upload = start();
		FakeXhr.last!.answer(413, '<html>Request Entity Too Large</html>');
		const error = await upload.catch((e: unknown) => e);
		expect(error).toBeInstanceOf(AppError);
		expect(error).toMatchObject({ code: 'too_large', message: 'The file is too large.' });

		const busy = start();
		FakeXhr.last!.answer(503, '', { 'retry-after': '7' });
		await expect(busy).rejects.toMatchObject({ code: 'unavailable', retryAfter: 7 });
	});

	it('tells a network failure and an abort apart', async () => {
		const offline = start();
		FakeXhr.last!.onerror?.();
		await expect(offline).rejects.toBeInstanceOf(UnreachableError);

		const controller = new AbortController();
		const cancelled = start(controller.signal);
		controller.abort();
		await expect(cancelled).rejects.toBeInstanceOf(UploadAborted);
	});
});
