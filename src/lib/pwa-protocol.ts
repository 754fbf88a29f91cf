/** What the page, the service worker and the server's push sender agree on. */

/** The prerendered, user-agnostic shell the service worker serves for navigations when offline. */
export const SHELL_PATH = '/offline';

/** Background-sync tag for a user's outbox: the user id rides in the tag, as the worker has no session state. */
export const OUTBOX_SYNC_PREFIX = 'duet-outbox:';

/** Service worker → page. */
export type SwMessage = { type: 'flush-outbox' };

/** The Web Push payload. `body` and `from` only when the recipient opted in to previews. */
export interface PushPayload {
	type: 'message';
	conversationId?: string;
	from?: string;
	body?: string;
	/** The recipient's unread total, for the app badge. */
	unread?: number;
}
