import { AppError } from '$lib/errors';
import { api, requireUser } from '$lib/server/http';
import { previewsOf } from '$lib/server/previews';
import { PreviewFetchError } from '$lib/server/previews/guard';
import { proxyImage } from '$lib/server/previews/image';

/** `url` is the page's, not the image's: only the image of a stored preview is ever fetched. */
export const GET = api(async (event) => {
	requireUser(event);
	const previews = previewsOf(event.locals.services);
	if (!previews) throw new AppError('not_found', 'Link previews are turned off on this server.');
	const image = await previews.store.imageOf(event.url.searchParams.get('url') ?? '');
	if (!image) throw new AppError('not_found', 'This link has no preview image.');
	try {
		return await proxyImage(image, previews.guard);
	} catch (error) {
		if (error instanceof PreviewFetchError) throw new AppError('not_found', 'The preview image could not be fetched.', { cause: error });
		throw error;
	}
});
