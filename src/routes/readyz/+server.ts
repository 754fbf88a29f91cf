import { json } from '$lib/server/http';
import type { RequestHandler } from './$types';

/** Ready while the database answers; also reports how many sends wait behind a clientSeq gap. */
export const GET: RequestHandler = async ({ locals }) => {
	const app = locals.services;
	try {
		await app.database.ping();
		return json({ status: 'ready', heldSends: app.chat.buffer.heldCount });
	} catch {
		return json({ status: 'unavailable', error: { code: 'unavailable', message: 'The database does not answer.' } }, 503);
	}
};
