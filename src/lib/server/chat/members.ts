/**
 * Who is in each conversation, read once: a 1:1 conversation's two members are fixed when it is
 * created and never change, so every send, typing note and membership check after the first is
 * answered from memory. Conversations with no members (ids that do not exist) are not remembered.
 */
import { inArray } from 'drizzle-orm';
import type { Db } from '../db';
import { members } from '../db/schema';

const MAX_CONVERSATIONS = 100_000;
/** Callers validate ids; one that is not a UUID still only finds no members, never a SQL error. */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export class ConversationMembers {
	private readonly known = new Map<string, string[]>();

	constructor(private readonly db: Db) {}

	/** Members already read, in id order; undefined until `load` has seen the conversation. */
	get(conversationId: string): string[] | undefined {
		return this.known.get(conversationId);
	}

	async of(conversationId: string): Promise<string[]> {
		await this.load([conversationId]);
		return this.known.get(conversationId) ?? [];
	}

	/** Reads the members of the conversations not read yet, all in one query. */
	async load(conversationIds: string[]): Promise<void> {
		const unknown = conversationIds.filter((id) => !this.known.has(id) && UUID.test(id));
		if (unknown.length === 0) return;
		const rows = await this.db
			.select({ conversationId: members.conversationId, userId: members.userId })
			.from(members)
			.where(inArray(members.conversationId, unknown));
		if (this.known.size > MAX_CONVERSATIONS) this.known.clear();
		const found = new Map<string, string[]>();
		for (const row of rows) {
			let list = found.get(row.conversationId);
			if (!list) found.set(row.conversationId, (list = []));
			list.push(row.userId);
		}
		for (const [id, list] of found) this.known.set(id, list.sort());
	}
}
