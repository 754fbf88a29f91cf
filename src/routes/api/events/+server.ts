import { api, requireUser } from '$lib/server/http';
import { openEventStream } from '$lib/server/sse';

/** The push stream over Server-Sent Events; Last-Event-ID (sent on automatic reconnects) wins over ?cursor=. */
export const GET = api(async (event) => {
	const user = requireUser(event);
	const cursor = event.request.headers.get('last-event-id') ?? event.url.searchParams.get('cursor') ?? undefined;
	return openEventStream(event.locals.services, user, event.locals.session!.id, cursor, event.platform?.req?.socket);
});
