import { AppError } from '$lib/errors';
import { api, json, requireUser } from '$lib/server/http';
import { previewsOf } from '$lib/server/previews';
import { previewKey, PreviewsBusy, PreviewsLimited } from '$lib/server/previews/store';

export const GET = api(async (event) => {
	const user = requireUser(event);
	const previews = previewsOf(event.locals.services);
	if (!previews) throw new AppError('not_found', 'Link previews are turned off on this server.');
	const url = event.url.searchParams.get('url') ?? '';
	if (!previewKey(url)) throw new AppError('bad_request', 'Give `url`: an http(s) link of at most 2048 characters.');
	try {
		return json({ preview: await previews.forUser(user.id, url) });
	} catch (error) {
		if (error instanceof PreviewsBusy)
			throw new AppError('rate_limited', 'Too many link previews are being fetched; try again in a moment.', { retryAfter: 1 });
		if (error instanceof PreviewsLimited)
			throw new AppError('rate_limited', 'You asked for too many new link previews; try again later.', { retryAfter: error.retryAfter });
		throw error;
	}
});
