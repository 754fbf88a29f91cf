/**
 * Seeding Dexie with what the server rendered, so the local view starts where the page did and is
 * never blank while the first sync runs. Merged, never overwritten: a tab that already synced
 * past the page's snapshot keeps its newer state.
 */
import type { Conversation } from '$lib/types';
import { mergeConversation } from './conversations';
import type { DuetDb } from './db';

export async function seedConversations(db: DuetDb, conversations: readonly Conversation[]): Promise<void> {
	await db.transaction('rw', db.conversations, async () => {
		for (const conversation of conversations) {
			await db.conversations.put(mergeConversation(await db.conversations.get(conversation.id), conversation));
		}
	});
}
