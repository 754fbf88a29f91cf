/**
 * The conversation rows one Dexie transaction reads and writes, each read from IndexedDB at most
 * once: storing a page of fifty messages touches its conversation for every one of them (the last
 * message, lastSeq, unread), and a read per touch doubled the transaction's reads. Only valid
 * inside one read-write transaction over `conversations`, where no one else can change a row.
 */
import type { DuetDb, LocalConversation } from './db';

export class ConversationRows {
	private readonly rows = new Map<string, LocalConversation | undefined>();

	constructor(private readonly db: DuetDb) {}

	async get(id: string): Promise<LocalConversation | undefined> {
		if (!this.rows.has(id)) this.rows.set(id, await this.db.conversations.get(id));
		return this.rows.get(id);
	}

	async put(row: LocalConversation): Promise<void> {
		await this.db.conversations.put(row);
		this.rows.set(row.id, row);
	}
}
