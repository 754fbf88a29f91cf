/**
 * Resumable uploads (docs/protocol.md "Resumable uploads"): a file is created with its size, then
 * its bytes are appended in as many PATCH requests as the network needs, each from the offset the
 * server has. The bytes stream into the BlobStore under the upload key; a request cut off keeps the
 * whole pieces it brought, so the next one resumes there. The last byte makes it an attachment,
 * processed as a multipart upload is (service.ts). Only the uploader sees an upload, as if no one
 * else's existed.
 */
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { and, eq } from 'drizzle-orm';
import { AppError } from '$lib/errors';
import type { Attachment } from '$lib/types';
import type { Db } from '../db';
import { attachments } from '../db/schema';
import { discardNodeBody } from '../edge';
import { cleanName } from './headers';
import { UPLOADING, type Attachments } from './service';
import { blobKeys, type BlobStore } from './store';
import { toAttachment, type AttachmentRow } from './views';

export const OFFSET_CONTENT_TYPE = 'application/offset+octet-stream';

export interface Upload {
	id: string;
	offset: number;
	size: number;
}

/** What GET answers: the upload, and once it is complete the attachment it became. */
export interface UploadStatus {
	upload: Upload;
	attachment?: Attachment;
}

/** The offset the client gave is not the server's: the body says where to go on from. */
export class OffsetConflict extends AppError {
	constructor(readonly upload: Upload) {
		super('conflict', `The upload is at byte ${upload.offset}; send from there.`);
	}
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** A byte offset as the header may say it: digits, no sign, no leading zero, no exponent. */
const OFFSET = /^(?:0|[1-9][0-9]{0,15})$/;

const NO_UPLOAD = () => new AppError('not_found', 'There is no such upload.');
const NO_CONVERSATION = () => new AppError('not_found', 'There is no such conversation.');

/** The Upload-Offset header as a safe integer, or 400. */
export function parseOffset(header: string | undefined): number {
	if (header === undefined || !OFFSET.test(header.trim())) {
		throw new AppError('bad_request', 'Upload-Offset must be the byte offset, a whole number of bytes.');
	}
	const offset = Number(header.trim());
	if (!Number.isSafeInteger(offset)) throw new AppError('bad_request', 'Upload-Offset is out of range.');
	return offset;
}

function uploadOf(row: AttachmentRow): Upload {
	// A finished upload's row holds the served size (an image's re-encoded one), not the bytes sent.
	const size = row.state === 'ready' ? (row.received ?? row.size) : row.size;
	return { id: row.id, offset: row.state === 'ready' ? size : (row.received ?? 0), size };
}

export interface ResumableDeps {
	db: Db;
	store: BlobStore;
	attachments: Attachments;
	maxBytes: number;
	isMember(userId: string, conversationId: string): Promise<boolean>;
}

export class ResumableUploads {
	/** Uploads with a PATCH running in this process: a second one at once would interleave. */
	private readonly appending = new Set<string>();

	constructor(private readonly deps: ResumableDeps) {}

	/** POST /api/attachments/uploads. */
	async create(userId: string, input: { conversationId: string; name: string; size: number }): Promise<Upload> {
		const { attachments: files, maxBytes } = this.deps;
		if (input.size === 0) throw new AppError('bad_request', 'The file is empty.');
		if (input.size > maxBytes) throw files.tooLarge();
		const conversationId = input.conversationId.toLowerCase();
		if (!(await this.deps.isMember(userId, conversationId))) throw NO_CONVERSATION();
		files.spendRate(userId);
		await files.withinQuota(userId, input.size);
		const id = randomUUID();
		await this.deps.db.insert(attachments).values({
			...UPLOADING,
			id,
			uploaderId: userId,
			conversationId,
			name: cleanName(input.name),
			// What the quota counts while it is under way.
			size: input.size,
			received: 0
		});
		return { id, offset: 0, size: input.size };
	}

	/** GET /api/attachments/uploads/:id. */
	async status(userId: string, id: string): Promise<UploadStatus> {
		const row = await this.own(userId, id);
		return row.state === 'ready' ? { upload: uploadOf(row), attachment: toAttachment(row) } : { upload: uploadOf(row) };
	}

	/**
	 * PATCH /api/attachments/uploads/:id: appends `body` at `offset`, which must be where the
	 * upload is. Answers the upload as it now is, or, with its last byte, the attachment it became.
	 * Whatever the outcome, the body has been read or the request is over.
	 */
	async append(userId: string, id: string, offset: number, declaredLength: number | undefined, body: Readable): Promise<UploadStatus> {
		const row = await this.own(userId, id);
		const upload = uploadOf(row);
		if (row.state === 'ready' || offset !== upload.offset) throw new OffsetConflict(upload);
		const left = row.size - offset;
		if (declaredLength !== undefined && declaredLength > left) throw this.pastEnd(left);
		if (this.appending.has(id)) throw new OffsetConflict(upload);
		this.appending.add(id);
		try {
			let received = offset;
			// Every byte there but not yet an attachment (processing failed or was cut off): this finishes it.
			if (left > 0) {
				const { kept, error } = await this.deps.store.append(blobKeys(id).upload, offset, row.size, this.upTo(body, left));
				received = offset + kept;
				const [moved] = await this.deps.db
					.update(attachments)
					.set({ received })
					.where(and(eq(attachments.id, id), eq(attachments.state, 'uploading'), eq(attachments.received, offset)))
					.returning();
				if (!moved) throw NO_UPLOAD();
				if (error) throw error instanceof AppError ? error : new AppError('bad_request', 'The body ended before it was complete.');
				if (received < row.size) return { upload: uploadOf(moved) };
			}
			const fields = await this.deps.attachments.processStored(id, row.name, row.size);
			const ready = await this.deps.attachments.ready(id, { ...fields, received: row.size });
			return { upload: uploadOf(ready), attachment: toAttachment(ready) };
		} catch (error) {
			// The answer must reach a client still sending.
			if (!body.readableEnded) discardNodeBody(body);
			throw error;
		} finally {
			this.appending.delete(id);
		}
	}

	/** The body's bytes, refused (413) at the piece that would take the upload past its size. */
	private async *upTo(body: Readable, left: number): AsyncIterable<Uint8Array> {
		let count = 0;
		// Left open when refused, so the 413 can still be written on its connection.
		for await (const piece of body.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
			count += piece.byteLength;
			if (count > left) throw this.pastEnd(left);
			yield piece;
		}
	}

	private pastEnd(left: number): AppError {
		return new AppError('too_large', `The upload has ${left} bytes left to send; the body is longer.`);
	}

	/** The upload `id` if it is `userId`'s, not yet sent; else 404 as if it did not exist. */
	private async own(userId: string, id: string): Promise<AttachmentRow> {
		if (!UUID.test(id)) throw NO_UPLOAD();
		const [row] = await this.deps.db.select().from(attachments).where(eq(attachments.id, id.toLowerCase()));
		if (!row || row.uploaderId !== userId || row.messageId !== null || row.received === null) throw NO_UPLOAD();
		return row;
	}
}
