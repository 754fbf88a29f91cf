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
	/** The piece a resumed write keeps whole: appends start at a multiple of it. */
	readonly pieceBytes: number;
	/**
	 * Writes `source` into `key` from byte `start` (a multiple of pieceBytes), replacing whatever was
	 * stored there or after, consuming it as it arrives. Only whole pieces are kept, except a last
	 * one that ends the blob at `end` (its full size). When `source` throws, the whole pieces
	 * received before are kept: the answer says how many bytes, and the error.
	 */
	append(key: string, start: number, end: number, source: AsyncIterable<Uint8Array>): Promise<Appended>;
	/** Deletes these blobs; keys with nothing stored are fine. */
	delete(keys: string[]): Promise<void>;
}

export interface Appended {
	/** Bytes kept from `start` on. */
	kept: number;
	/** Why the source ended early, if it did. */
	error?: unknown;
}

/** An attachment's blobs: the file as served, and the thumbnail of an image. */
export function blobKeys(attachmentId: string) {
	return { file: `${attachmentId}/file`, thumbnail: `${attachmentId}/thumbnail`, upload: `${attachmentId}/upload` };
}

/** Every key an attachment may have used, for deleting it whatever state it was left in. */
export function allBlobKeys(attachmentIds: string[]): string[] {
	return attachmentIds.flatMap((id) => Object.values(blobKeys(id)));
}
