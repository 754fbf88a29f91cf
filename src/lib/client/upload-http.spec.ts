// @vitest-environment node
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AppError } from '$lib/errors';
import { UnreachableError } from './api';
import { UploadAborted, uploadFile, type UploadRequest } from './upload-http';

/** Just enough of XMLHttpRequest for uploadFile: the spec plays the server, one request at a time. */
class FakeXhr {
	/** Requests sent and not yet taken by `sent()`. */
	static queue: FakeXhr[] = [];
	static waiting: ((xhr: FakeXhr) => void) | null = null;
	method = '';
	url = '';
	withCredentials = false;
	status = 0;
	responseText = '';
	body: Blob | string | null = null;
	requestHeaders: Record<string, string> = {};
	headers: Record<string, string> = {};
	upload: { onprogress: ((event: { lengthComputable: boolean; loaded: number; total: number }) => void) | null } = { onprogress: null };
	onload: (() => void) | null = null;
	onerror: (() => void) | null = null;
	onabort: (() => void) | null = null;
	open(method: string, url: string) {
		this.method = method;
		this.url = url;
	}
	setRequestHeader(name: string, value: string) {
		this.requestHeaders[name] = value;
	}
	send(body: Blob | string | null) {
		this.body = body;
		const waiting = FakeXhr.waiting;
		FakeXhr.waiting = null;
		if (waiting) waiting(this);
		else FakeXhr.queue.push(this);
	}
	abort() {
		this.onabort?.();
	}
	getResponseHeader(name: string) {
		return this.headers[name] ?? null;
	}
	answer(status: number, body: unknown, headers: Record<string, string> = {}) {
		this.status = status;
		this.responseText = typeof body === 'string' ? body : JSON.stringify(body);
		this.headers = headers;
		this.onload?.();
	}
	/** The next request the code under test sends. */
	static sent(): Promise<FakeXhr> {
		const queued = FakeXhr.queue.shift();
		if (queued) return Promise.resolve(queued);
		return new Promise((resolve) => (FakeXhr.waiting = resolve));
	}
}

const original = globalThis.XMLHttpRequest;
beforeEach(() => {
	FakeXhr.queue = [];
	FakeXhr.waiting = null;
	globalThis.XMLHttpRequest = FakeXhr as unknown as typeof XMLHttpRequest;
});
afterEach(() => {
	globalThis.XMLHttpRequest = original;
});

const attachment = { id: 'x', name: 'a.txt' };
const bodyText = (xhr: FakeXhr) => (xhr.body instanceof Blob ? xhr.body.text() : Promise.resolve(xhr.body));

function start(options: Partial<UploadRequest> = {}) {
	const progress: number[] = [];
	const created: string[] = [];
	const upload = uploadFile({
		conversationId: 'c1',
		blob: new Blob(['abcdefgh']),
		name: 'a.txt',
		onProgress: (f) => progress.push(f),
		onCreated: (id) => void created.push(id),
		...options
	});
	return { upload, progress, created };
}

describe('uploadFile', () => {
	it('creates an upload, keeps its id, then sends the bytes from offset 0 with progress over the file', async () => {
		const t = start();
		const post = await FakeXhr.sent();
		expect([post.method, post.url, post.withCredentials, post.requestHeaders['content-type']]).toEqual([
			'POST',
			'/api/attachments/uploads',
			true,
			'application/json'
		]);
		expect(JSON.parse(post.body as string)).toEqual({ conversationId: 'c1', name: 'a.txt', size: 8 });
		post.answer(201, { upload: { id: 'u1', offset: 0, size: 8 } });

		const patch = await FakeXhr.sent();
		expect(t.created).toEqual(['u1']);
		expect([patch.method, patch.url, patch.requestHeaders]).toEqual([
			'PATCH',
			'/api/attachments/uploads/u1',
			{ 'content-type': 'application/offset+octet-stream', 'upload-offset': '0' }
		]);
		expect(await bodyText(patch)).toBe('abcdefgh');
		patch.upload.onprogress?.({ lengthComputable: true, loaded: 2, total: 8 });
		patch.answer(201, { upload: { id: 'u1', offset: 8, size: 8 }, attachment });
		await expect(t.upload).resolves.toEqual(attachment);
		expect(t.progress).toEqual([0, 0.25]);
	});

	it('a retry asks the server for the offset first and sends only the rest', async () => {
		const t = start({ uploadId: 'u1' });
		const get = await FakeXhr.sent();
		expect([get.method, get.url]).toEqual(['GET', '/api/attachments/uploads/u1']);
		get.answer(200, { upload: { id: 'u1', offset: 4, size: 8 } });
		const patch = await FakeXhr.sent();
		expect(patch.requestHeaders['upload-offset']).toBe('4');
		expect(await bodyText(patch)).toBe('efgh');
		patch.upload.onprogress?.({ lengthComputable: true, loaded: 2, total: 4 });
		patch.answer(201, { upload: { id: 'u1', offset: 8, size: 8 }, attachment });
		await expect(t.upload).resolves.toEqual(attachment);
		// Over the whole file: half was there already.
		expect(t.progress).toEqual([0.5, 0.75]);
		expect(t.created).toEqual([]);
	});

	it('a retry whose last request finished on the server takes the attachment without sending again', async () => {
		const t = start({ uploadId: 'u1' });
		(await FakeXhr.sent()).answer(200, { upload: { id: 'u1', offset: 8, size: 8 }, attachment });
		await expect(t.upload).resolves.toEqual(attachment);
		expect(FakeXhr.queue).toEqual([]);
	});

	it('an upload the server no longer has (swept) starts over in a new one', async () => {
		const t = start({ uploadId: 'gone' });
		(await FakeXhr.sent()).answer(404, { error: { code: 'not_found', message: 'There is no such upload.' } });
		const post = await FakeXhr.sent();
		expect(post.url).toBe('/api/attachments/uploads');
		post.answer(201, { upload: { id: 'u2', offset: 0, size: 8 } });
		const patch = await FakeXhr.sent();
		expect([patch.url, patch.requestHeaders['upload-offset']]).toEqual(['/api/attachments/uploads/u2', '0']);
		// Swept again between the offset and the bytes: one more new upload, not an endless loop.
		patch.answer(404, { error: { code: 'not_found', message: 'There is no such upload.' } });
		(await FakeXhr.sent()).answer(201, { upload: { id: 'u3', offset: 0, size: 8 } });
		(await FakeXhr.sent()).answer(404, { error: { code: 'not_found', message: 'There is no such upload.' } });
		await expect(t.upload).rejects.toMatchObject({ code: 'not_found' });
		expect(t.created).toEqual(['u2', 'u3']);
	});

	it('goes on from the offset a conflict or a short answer names', async () => {
		const t = start({ uploadId: 'u1' });
		(await FakeXhr.sent()).answer(200, { upload: { id: 'u1', offset: 0, size: 8 } });
		(await FakeXhr.sent()).answer(409, { error: { code: 'conflict', message: 'At 2.' }, upload: { id: 'u1', offset: 2, size: 8 } });
		const second = await FakeXhr.sent();
		expect(second.requestHeaders['upload-offset']).toBe('2');
		// The server kept whole chunks only: the rest goes from where it stopped.
		second.answer(200, { upload: { id: 'u1', offset: 6, size: 8 } });
		const third = await FakeXhr.sent();
		expect(await bodyText(third)).toBe('gh');
		third.answer(201, { upload: { id: 'u1', offset: 8, size: 8 }, attachment });
		await expect(t.upload).resolves.toEqual(attachment);
	});

	it('conflicts that do not end are a reason to try later, not a refusal', async () => {
		const t = start({ uploadId: 'u1' });
		(await FakeXhr.sent()).answer(200, { upload: { id: 'u1', offset: 0, size: 8 } });
		for (let i = 0; i < 4; i++) {
			(await FakeXhr.sent()).answer(409, { error: { code: 'conflict', message: 'Busy.' }, upload: { id: 'u1', offset: 0, size: 8 } });
		}
		await expect(t.upload).rejects.toMatchObject({ code: 'unavailable' });
	});

	it("carries the server's error code and message", async () => {
		const t = start();
		(await FakeXhr.sent()).answer(201, { upload: { id: 'u1', offset: 0, size: 8 } });
		(await FakeXhr.sent()).answer(413, { error: { code: 'too_large', message: 'Past the size.' } });
		await expect(t.upload).rejects.toMatchObject({ code: 'too_large', message: 'Past the size.' });
	});

	it('reads a proxy error page by its status', async () => {
		const t = start();
		(await FakeXhr.sent()).answer(413, '<html>Request Entity Too Large</html>');
		const error = await t.upload.catch((e: unknown) => e);
		expect(error).toBeInstanceOf(AppError);
		expect(error).toMatchObject({ code: 'too_large', message: 'The file is too large.' });

		const busy = start();
		(await FakeXhr.sent()).answer(503, '', { 'retry-after': '7' });
		await expect(busy.upload).rejects.toMatchObject({ code: 'unavailable', retryAfter: 7 });
	});

	it('tells a network failure and an abort apart', async () => {
		const offline = start({ uploadId: 'u1' });
		(await FakeXhr.sent()).onerror?.();
		await expect(offline.upload).rejects.toBeInstanceOf(UnreachableError);

		const controller = new AbortController();
		const cancelled = start({ uploadId: 'u1', signal: controller.signal });
		(await FakeXhr.sent()).answer(200, { upload: { id: 'u1', offset: 0, size: 8 } });
		await FakeXhr.sent();
		controller.abort();
		await expect(cancelled.upload).rejects.toBeInstanceOf(UploadAborted);
	});
});
