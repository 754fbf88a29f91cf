/**
 * What a send needs from its message's files: it may leave only once every one of them is stored
 * on the server (sendOf then names them by the server's ids). Shared by the tab's outbox and the
 * service worker's background send, so neither can send a message ahead of its files.
 */
import type { DuetDb } from './db';

/** Whether some file of `messageId` is not stored on the server yet (queued, uploading or failed). */
export async function filesPending(db: DuetDb, messageId: string): Promise<boolean> {
	const uploads = await db.uploads.where('messageId').equals(messageId).toArray();
	return uploads.some((u) => u.state !== 'stored');
}
