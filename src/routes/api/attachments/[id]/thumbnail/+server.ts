import { webHeaders } from '$lib/server/edge';
import { downloadResponse } from '$lib/server/attachments/download';
import { api, requireUser } from '$lib/server/http';

/** An image's WebP thumbnail (at most 800 px on its longer side); 404 for other files. */
export const GET = api(async (event) => {
	const user = requireUser(event);
	return downloadResponse(event.locals.services.attachments, user.id, event.params.id!, 'thumbnail', webHeaders(event.request.headers));
});
