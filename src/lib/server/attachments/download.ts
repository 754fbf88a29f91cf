/**
 * GET /api/attachments/:id and its thumbnail as a web Response: the store's bytes streamed as the
 * client reads them, with the headers docs/protocol.md lists. A file never changes under its id (a
 * deleted one is gone, not replaced), so the id is a strong ETag; `no-cache` still asks each time,
 * so a message deleted or a conversation left stops being served from the browser's cache.
 */
import { AppError } from '$lib/errors';
import type { HeaderGet } from '../edge';
import { contentDisposition, parseRange } from './headers';
import type { Attachments } from './service';
import { blobKeys } from './store';

export async function downloadResponse(
	attachments: Attachments,
	userId: string,
	id: string,
	kind: 'file' | 'thumbnail',
	get: HeaderGet
): Promise<Response> {
	const row = await attachments.visible(userId, id);
	const keys = blobKeys(row.id);
	let file: { key: string; type: string; size: number; disposition: string; etag: string };
	if (kind === 'thumbnail') {
		if (row.thumbnailSize === null) throw new AppError('not_found', 'This attachment has no thumbnail.');
		file = { key: keys.thumbnail, type: 'image/webp', size: row.thumbnailSize, disposition: 'inline', etag: `"${row.id}-thumbnail"` };
	} else {
		file = { key: keys.file, type: row.type, size: row.size, disposition: contentDisposition(row.type, row.name), etag: `"${row.id}"` };
	}
	const headers: Record<string, string> = {
		'content-type': file.type,
		'x-content-type-options': 'nosniff',
		'content-disposition': file.disposition,
		etag: file.etag,
		'cache-control': 'private, no-cache',
		'accept-ranges': 'bytes'
	};
	const ifNoneMatch = get('if-none-match');
	if (ifNoneMatch && ifNoneMatch.split(',').some((tag) => tag.trim() === file.etag || tag.trim() === '*')) {
		return new Response(null, { status: 304, headers });
	}
	// A Range conditional on another version is ignored (RFC 9110 If-Range): the whole file then.
	const ifRange = get('if-range');
	const range = ifRange === undefined || ifRange === file.etag ? parseRange(get('range'), file.size) : null;
	if (range === 'unsatisfiable') {
		return new Response(null, { status: 416, headers: { ...headers, 'content-range': `bytes */${file.size}` } });
	}
	const { start, end } = range ?? { start: 0, end: file.size - 1 };
	headers['content-length'] = String(end - start + 1);
	if (range) headers['content-range'] = `bytes ${start}-${end}/${file.size}`;
	return new Response(webStream(attachments.store.read(file.key, start, end)), { status: range ? 206 : 200, headers });
}

/** Pulled as the client reads, so a slow download holds one chunk, never the file. */
function webStream(source: AsyncIterable<Uint8Array>): ReadableStream<Uint8Array> {
	const iterator = source[Symbol.asyncIterator]();
	return new ReadableStream<Uint8Array>({
		async pull(controller) {
			const next = await iterator.next();
			if (next.done) controller.close();
			else controller.enqueue(next.value);
		},
		async cancel() {
			await iterator.return?.();
		}
	});
}
