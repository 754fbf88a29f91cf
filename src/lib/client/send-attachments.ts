/**
 * What a send needs from its message's files: it may leave only once every one of them is stored
 * on the server, and it names them by the server's ids. Shared by the tab's outbox and the service
 * worker's background send, so neither can send a message ahead of its files.
 */
import type { DuetDb, LocalMessage } from './db';

/** Whether some file of `messageId` is not stored on the server yet (queued, uploading or failed). */
export async function filesPending(db: DuetDb, messageId: string): Promise<boolean> {
	const uploads = await db.uploads.where('messageId').equals(messageId).toArray();
	return uploads.some((u) => u.state !== 'stored');
}

/**
 * The send's `attachments`: the server ids of the message's stored files, in the order they were
 * chosen (uploads.ts keeps `message.attachments` so). This is the one place a send gets them from.
 */
export function attachmentIdsOf(message: Pick<LocalMessage, 'attachments'>): string[] {
	return message.attachments.map((a) => a.id);
}
