import { json } from '$lib/server/http';
import { services } from '$lib/server/services';

export const GET = async () => {
	try {
		await services().database.ping();
		return json({ status: 'ready' });
	} catch {
		return json({ status: 'unavailable', error: { code: 'unavailable', message: 'The database does not answer.' } }, 503);
	}
};
