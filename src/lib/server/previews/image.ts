/**
 * The preview image proxy: clients never load a preview's image from its own site (which would
 * tell that site who reads the chat, and when), but from us, fetched through the same guard as
 * the page. Only raster image types are passed on; SVG, which can carry script, is not.
 */
import { guardedGet, PREVIEW_LIMITS, PreviewFetchError, type GuardOptions } from './guard';

export const IMAGE_TYPES = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp', 'image/avif']);

/** The image at `url` as a streamed response, or a PreviewFetchError. */
export async function proxyImage(url: string, guard: GuardOptions, maxBytes = PREVIEW_LIMITS.imageBytes): Promise<Response> {
	const response = await guardedGet(url, { ...guard, accept: [...IMAGE_TYPES].join(','), maxBytes, overflow: 'fail' });
	try {
		if (response.status < 200 || response.status > 299) {
			throw new PreviewFetchError('status', `The image answered ${response.status}.`);
		}
		if (!IMAGE_TYPES.has(response.mediaType)) {
			throw new PreviewFetchError('content_type', `Not an image type we pass on (${response.mediaType || 'none'}).`);
		}
		if (response.contentLength !== undefined && response.contentLength > maxBytes) {
			throw new PreviewFetchError('too_large', `The image is larger than ${maxBytes} bytes.`);
		}
	} catch (error) {
		response.close();
		throw error;
	}
	const body = response.body[Symbol.asyncIterator]();
	// Past the cap (a server that lied about its length, or sent none) the stream errors, and the
	// client's download breaks off rather than getting more than the cap.
	const stream = new ReadableStream<Uint8Array>({
		async pull(controller) {
			try {
				const next = await body.next();
				if (next.done) controller.close();
				else controller.enqueue(new Uint8Array(next.value));
			} catch (error) {
				controller.error(error);
			}
		},
		async cancel() {
			await body.return?.(undefined);
		}
	});
	const headers = new Headers({
		'content-type': response.mediaType,
		'x-content-type-options': 'nosniff',
		// Opened on its own, the image gets no script, no plugins, no same-origin access.
		'content-security-policy': "default-src 'none'; sandbox",
		'cache-control': 'private, max-age=86400'
	});
	if (response.contentLength !== undefined) headers.set('content-length', String(response.contentLength));
	return new Response(stream, { status: 200, headers });
}
