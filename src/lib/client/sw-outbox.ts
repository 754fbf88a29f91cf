/**
 * Background sync with no tab open: the service worker sends the user's queued messages (then
 * their queued changes: edits, deletes, reactions) itself,
 * through the same api.ts `send` (POST /api/messages) a tab on SSE uses, with the session cookie
 * the browser attaches. Deliberately small: in clientSeq order per conversation, each ack applied
 * exactly as a tab would; anything that is not a clean ack stops that conversation and is left for
 * the tab's own scheduler (retry budget, failed state) the next time the app opens.
 */
import { sendOf } from '$lib/message-rules';
import type { Ack } from '$lib/types';
import { createApi, UnreachableError, type Fetch } from './api';
import { applyChanged } from './changes';
import { openUserDb, type DuetDb } from './db';
import { applyAck } from './outbox';
import { filesPending } from './send-attachments';

export async function sendQueued(userId: string, fetcher?: Fetch): Promise<void> {
	const api = createApi(fetcher);
	const db = openUserDb(userId);
	let unreachable = false;
	try {
		const items = await db.outbox.where('state').equals('queued').toArray();
		const byConversation = new Map<string, typeof items>();
		for (const item of items) byConversation.set(item.conversationId, [...(byConversation.get(item.conversationId) ?? []), item]);
		for (const queue of byConversation.values()) {
			queue.sort((a, b) => a.clientSeq - b.clientSeq);
			for (const item of queue) {
				// Uploading its files is the tab's work; the rest of the conversation waits behind it.
				// Checked before the message is read: a file stored in between would otherwise leave a
				// copy from before it, naming none of its files (storeUpload writes both at once).
				if (await filesPending(db, item.id)) break;
				const message = await db.messages.get(item.id);
				if (!message) break;
				let ack: Ack;
				try {
					ack = await api.send(sendOf(message));
				} catch (error) {
					if (error instanceof UnreachableError) unreachable = true;
					break;
				}
				await applyAck(db, ack);
			}
		}
		if (!unreachable) unreachable = await sendChanges(db, api);
	} finally {
		db.close();
	}
	// Rejecting asks the browser to fire the sync again later.
	if (unreachable) throw new Error('still offline');
}

/** Each message's changes in order, while the message is acked; returns whether the server was unreachable. */
async function sendChanges(db: DuetDb, api: ReturnType<typeof createApi>): Promise<boolean> {
	const stopped = new Set<string>();
	for (const item of await db.changes.orderBy('order').toArray()) {
		if (item.state !== 'queued' || stopped.has(item.messageId)) continue;
		const message = await db.messages.get(item.messageId);
		if (message?.seq === undefined) {
			stopped.add(item.messageId);
			continue;
		}
		try {
			await applyChanged(db, item.id, (await api.change(item.change)).message);
		} catch (error) {
			if (error instanceof UnreachableError) return true;
			stopped.add(item.messageId);
		}
	}
	return false;
}
