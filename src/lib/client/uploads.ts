/**
 * Files of a message, offline-first: a message with files is written to Dexie with each file's
 * Blob in one transaction, so it shows at once (from the local blobs) and survives a reload. The
 * leader tab's upload scheduler (upload-scheduler.ts) uploads them; each stored file's server copy
 * joins `message.attachments`, and the outbox holds the message until all of them are there
 * (send-attachments.ts). Any tab may queue or take off files; this module is what they share.
 */
import type { MessageContentInput } from '$lib/schemas';
import type { Attachment } from '$lib/types';
import { checkFiles, FilesRefused } from './attachment-rules';
import { uuid, type DuetDb, type LocalMessage, type PendingUpload } from './db';
import { deleteUnsent, enqueueMessage } from './outbox';

/** A file as the composer hands it over: what a pending upload holds of the file itself. */
export type ChosenFile = Pick<PendingUpload, 'blob' | 'name' | 'type' | 'size' | 'width' | 'height'>;

export { FilesRefused };

/**
 * Stores a message with its files and its outbox item in one transaction: all of it is there, or
 * none. `files` must already keep the limits; breaking them throws FilesRefused.
 */
export async function enqueueWithFiles(
	db: DuetDb,
	input: MessageContentInput & { conversationId: string; senderId: string },
	files: readonly ChosenFile[],
	now: () => number = Date.now
): Promise<LocalMessage> {
	const { refused } = checkFiles(0, files);
	if (refused.length > 0) throw new FilesRefused(refused);
	return db.transaction('rw', [db.meta, db.messages, db.outbox, db.uploads], async () => {
		const message = await enqueueMessage(db, input, now);
		await db.uploads.bulkAdd(
			files.map((file, order) => ({
				...file,
				id: uuid(),
				messageId: message.id,
				conversationId: message.conversationId,
				clientSeq: message.clientSeq,
				order,
				state: 'queued' as const,
				attempts: 0,
				nextAttemptAt: 0
			}))
		);
		return message;
	});
}

/** The message's stored files, in the order they were chosen: what its `attachments` must say. */
async function storedAttachments(db: DuetDb, messageId: string): Promise<Attachment[]> {
	const rows = await db.uploads.where('messageId').equals(messageId).sortBy('order');
	return rows.flatMap((r) => (r.state === 'stored' && r.attachment ? [r.attachment] : []));
}

/** The server stored upload `id` as `attachment`. */
export async function storeUpload(db: DuetDb, id: string, attachment: Attachment): Promise<void> {
	await db.transaction('rw', [db.uploads, db.messages], async () => {
		const row = await db.uploads.get(id);
		if (!row) return;
		await db.uploads.update(id, { state: 'stored', attachment, lastError: undefined });
		await db.messages.update(row.messageId, { attachments: await storedAttachments(db, row.messageId) });
	});
}

/**
 * The user took one file off an unsent message. A message left with neither files nor text is
 * deleted with it: it would have nothing to say. Returns whether the file was still removable.
 */
export async function cancelUpload(db: DuetDb, id: string): Promise<boolean> {
	return db.transaction('rw', [db.uploads, db.messages, db.outbox, db.changes, db.meta], async () => {
		const row = await db.uploads.get(id);
		if (!row) return false;
		const message = await db.messages.get(row.messageId);
		if (message?.status === 'sent') return false;
		await db.uploads.delete(id);
		if (!message) return true;
		const left = await db.uploads.where('messageId').equals(message.id).count();
		if (left === 0 && message.body.trim() === '') await deleteUnsent(db, message.id);
		else await db.messages.update(message.id, { attachments: await storedAttachments(db, message.id) });
		return true;
	});
}
