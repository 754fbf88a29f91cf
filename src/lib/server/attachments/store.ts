/**
 * Where attachment bytes live, behind the least an upload and a download need: write a stream,
 * read a byte range as a stream, delete. The database store (database-store.ts) is the default, so
 * one PostgreSQL (or PGlite) is all that several instances share; an object store implements the
 * same three calls (docs/architecture.md says how). Keys are the store's own business past being
 * unique: callers derive them from attachment ids (see `blobKeys`).
 */

export interface BlobStore {
	/**
	 * Stores `source` under `key`, consuming it as it arrives (the caller's stream is never held
	 * whole), and resolves with the byte count. When `source` throws or a write fails, whatever was
	 * written under `key` is deleted and the error passed on.
	 */
	write(key: string, source: AsyncIterable<Uint8Array>): Promise<number>;
	/** Bytes `start` to `end` inclusive (both within the blob, as its caller knows its size). */
	read(key: string, start: number, end: number): AsyncIterable<Uint8Array>;
	/** Deletes these blobs; keys with nothing stored are fine. */
	delete(keys: string[]): Promise<void>;
}

/** An attachment's blobs: the file as served, and the thumbnail of an image. */
export function blobKeys(attachmentId: string) {
	return { file: `${attachmentId}/file`, thumbnail: `${attachmentId}/thumbnail`, upload: `${attachmentId}/upload` };
}

/** Every key an attachment may have used, for deleting it whatever state it was left in. */
export function allBlobKeys(attachmentIds: string[]): string[] {
	return attachmentIds.flatMap((id) => Object.values(blobKeys(id)));
}
