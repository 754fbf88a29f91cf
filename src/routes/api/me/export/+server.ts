import { exportDocument, exportFilename, streamOf } from '$lib/server/export';
import { api, requireUser } from '$lib/server/http';

export const GET = api(async (event) => {
	const user = requireUser(event);
	const now = new Date();
	const pieces = exportDocument(event.locals.services.chat, user, now);
	// The first piece reads the account: a failure there is still a protocol error, not a cut stream.
	const first = await pieces.next();
	async function* all() {
		if (!first.done) yield first.value;
		yield* pieces;
	}
	return new Response(streamOf(all()), {
		headers: {
			'content-type': 'application/json; charset=utf-8',
			'content-disposition': `attachment; filename="${exportFilename(user, now)}"`,
			'cache-control': 'no-store'
		}
	});
});
