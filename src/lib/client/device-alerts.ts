/**
 * What the device does for a running client: the app badge and system notifications for new
 * messages, and background sync of the outbox. Loaded with the client, after hydration, since
 * none of it can start before there is a database to watch.
 */
import type { DuetClient } from './client.svelte';
import { onFlushRequest, registerOutboxSync } from './background-sync';
import { notifyArrival, showBadge, watchUnread } from './unread-alerts';

/** `quiet` says whether a new message should stay silent now; returns the way to stop. */
export function startDeviceAlerts(c: DuetClient, quiet: () => boolean): () => void {
	const stops = [
		watchUnread(c.db, c.user.id, {
			total: showBadge,
			arrived: (conv) => void notifyArrival(conv.id, conv.peer.username),
			quiet
		}),
		registerOutboxSync(c.db, c.user.id),
		onFlushRequest()
	];
	return () => stops.forEach((stop) => stop());
}
