import { json } from '$lib/server/http';
import { services } from '$lib/server/services';

/** Ready while the database answers; also reports how many sends wait behind a clientSeq gap. */
export const GET = async () => {
	const app = services();
	try {
		await app.database.ping();
		return json({ status: 'ready', heldSends: app.chat.buffer.heldCount });
	} catch {
		return json({ status: 'unavailable', error: { code: 'unavailable', message: 'The database does not answer.' } }, 503);
	}
};
