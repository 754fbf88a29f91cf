import { api, requireUser } from '$lib/server/http';
import { services } from '$lib/server/services';
import { openEventStream } from '$lib/server/sse';

/** The push stream over Server-Sent Events; Last-Event-ID (sent on automatic reconnects) wins over ?cursor=. */
export const GET = api(async (event) => {
	const user = requireUser(event);
	const cursor = event.request.headers.get('last-event-id') ?? event.url.searchParams.get('cursor') ?? undefined;
	return openEventStream(services(), user, event.locals.session!.id, cursor, event.platform?.req?.socket);
});
