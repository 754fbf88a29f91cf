import { webHeaders } from '$lib/server/edge';
import { downloadResponse } from '$lib/server/attachments/download';
import { api, requireUser } from '$lib/server/http';

/** The file, for members of its conversation (and its uploader while it is not sent); `Range` gets 206. */
export const GET = api(async (event) => {
	const user = requireUser(event);
	return downloadResponse(event.locals.services.attachments, user.id, event.params.id!, 'file', webHeaders(event.request.headers));
});
