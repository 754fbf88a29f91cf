/**
 * The unread total the badge and the tab's title show. Apart from `unread-alerts.ts` so the
 * signed-in shell can show it before the alerts, which need the client, are loaded.
 */
import type { Conversation } from '$lib/types';

/** Muted conversations are left out: their unread count shows in the list only. */
export function unreadTotal(conversations: readonly Pick<Conversation, 'unreadCount' | 'muted'>[]): number {
	return conversations.reduce((n, conv) => n + (conv.muted ? 0 : (conv.unreadCount ?? 0)), 0);
}
