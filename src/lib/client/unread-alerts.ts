/**
 * The unread total as the app badge, and a system notification when a peer message arrives while
 * the app is hidden. The decision (what is new since the last look) is kept apart from the
 * browser calls that show it.
 */
import { watch } from './live-query';
import type { DuetDb, LocalConversation } from './db';
import { unreadTotal } from './unread-total';

export { unreadTotal };

/** Conversations not muted whose unread count grew since `previous` with a peer message last. */
export function newlyUnread(
	previous: ReadonlyMap<string, number>,
	conversations: readonly LocalConversation[],
	me: string
): LocalConversation[] {
	return conversations.filter(
		(conv) => !conv.muted && (conv.unreadCount ?? 0) > (previous.get(conv.id) ?? 0) && conv.lastMessage?.senderId !== me
	);
}

export interface UnreadHooks {
	total(unread: number): void;
	arrived(conversation: LocalConversation): void;
	/** True while arrivals should not notify (the app is visible, or notifications are off). */
	quiet(): boolean;
}

/** Follows the database; the first result only sets the mark, so opening the app notifies nothing. */
export function watchUnread(db: DuetDb, me: string, hooks: UnreadHooks): () => void {
	let last: Map<string, number> | null = null;
	return watch(() => db.conversations.toArray(), {
		next(conversations) {
			hooks.total(unreadTotal(conversations));
			const previous = last;
			last = new Map(conversations.map((conv) => [conv.id, conv.unreadCount ?? 0]));
			if (!previous || hooks.quiet()) return;
			for (const conv of newlyUnread(previous, conversations, me)) hooks.arrived(conv);
		},
		error: (error) => console.warn(error)
	});
}

export function showBadge(total: number): void {
	if (!('setAppBadge' in navigator)) return;
	void (total > 0 ? navigator.setAppBadge(total) : navigator.clearAppBadge()).catch(() => {});
}

/** Through the service worker where there is one (the only way on Android), else the page's own. */
export async function notifyArrival(conversationId: string, from: string): Promise<void> {
	const registration = await navigator.serviceWorker?.getRegistration();
	const options = {
		body: 'Open Duet to read it.',
		tag: conversationId,
		icon: '/icons/icon-192.png',
		data: { url: `/c/${conversationId}` }
	};
	if (registration) await registration.showNotification(`New message from ${from}`, options);
	else new Notification(`New message from ${from}`, options);
}
