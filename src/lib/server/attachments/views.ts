/**
 * Attachments as the wire shows them (docs/protocol.md "Attachments"), read for a whole set of
 * messages in one query, as chat/reactions.ts reads reactions: every place a message leaves the
 * server shows it with both.
 */
import { asc, inArray } from 'drizzle-orm';
import type { Attachment } from '$lib/types';
import type { Executor } from '../db';
import { attachments } from '../db/schema';

export type AttachmentRow = typeof attachments.$inferSelect;

export function toAttachment(row: AttachmentRow): Attachment {
	return {
		id: row.id,
		name: row.name,
		type: row.type,
		size: row.size,
		width: row.width,
		height: row.height,
		url: `/api/attachments/${row.id}`,
		thumbnailUrl: row.thumbnailSize !== null ? `/api/attachments/${row.id}/thumbnail` : null
	};
}

/** The attachments of each of `messageIds`, in their messages' order (messages without any are absent). */
export async function loadAttachments(db: Executor, messageIds: string[]): Promise<Map<string, Attachment[]>> {
	const ids = [...new Set(messageIds)];
	if (ids.length === 0) return new Map();
	const rows = await db.select().from(attachments).where(inArray(attachments.messageId, ids)).orderBy(asc(attachments.position));
	const byMessage = new Map<string, Attachment[]>();
	for (const row of rows) {
		let list = byMessage.get(row.messageId!);
		if (!list) byMessage.set(row.messageId!, (list = []));
		list.push(toAttachment(row));
	}
	return byMessage;
}
