/**
 * Background sync with no tab open: the service worker sends the user's queued messages itself,
 * over the same POST /api/messages a tab on SSE uses, with the session cookie the browser attaches.
 * Deliberately small: in clientSeq order per conversation, each ack applied exactly as a tab
 * would; anything that is not a clean ack stops that conversation and is left for the tab's own
 * scheduler (retry budget, failed state) the next time the app opens.
 */
import type { Ack } from '$lib/types';
import { openUserDb } from './db';
import { applyAck } from './outbox';

export async function sendQueued(userId: string, fetcher: typeof fetch = fetch): Promise<void> {
	const db = openUserDb(userId);
	let unreachable = false;
	try {
		const items = await db.outbox.where('state').equals('queued').toArray();
		const byConversation = new Map<string, typeof items>();
		for (const item of items) byConversation.set(item.conversationId, [...(byConversation.get(item.conversationId) ?? []), item]);
		for (const queue of byConversation.values()) {
			queue.sort((a, b) => a.clientSeq - b.clientSeq);
			for (const item of queue) {
				const message = await db.messages.get(item.id);
				if (!message) break;
				let response: Response;
				try {
					response = await fetcher('/api/messages', {
						method: 'POST',
						credentials: 'same-origin',
						headers: { 'content-type': 'application/json' },
						body: JSON.stringify({
							id: message.id,
							conversationId: message.conversationId,
							clientId: message.clientId,
							clientSeq: message.clientSeq,
							body: message.body
						})
					});
				} catch {
					unreachable = true;
					break;
				}
				if (!response.ok) break;
				await applyAck(db, (await response.json()) as Ack);
			}
		}
	} finally {
		db.close();
	}
	// Rejecting asks the browser to fire the sync again later.
	if (unreachable) throw new Error('still offline');
}
