/**
 * Attachments: the upload (a multipart body parsed as it arrives, written to the BlobStore chunk
 * by chunk, its type found in its first bytes), who may download what, the attachments of messages
 * as the wire shows them, and the sweep of uploads never sent. Sending one (it becomes part of a
 * message) and deleting it with its message happen in group commit, under the batch's locks.
 */
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import busboy from 'busboy';
import { fileTypeFromBuffer } from 'file-type';
import { and, eq, inArray, isNull, lt, sql, type SQL } from 'drizzle-orm';
import { AppError } from '$lib/errors';
import type { Attachment } from '$lib/types';
import type { AttachmentSettings } from '../config';
import type { Db } from '../db';
import { attachments } from '../db/schema';
import { discardNodeBody } from '../edge';
import { RefillingTokenBucket } from '../rate-limit';
import { cleanName } from './headers';
import { toAttachment, type AttachmentRow } from './views';
import { IMAGE_TYPES, processImage } from './images';
import { allBlobKeys, blobKeys, type BlobStore } from './store';
import { log } from '../log';

/** What file-type needs to recognise every format it knows. */
const SNIFF_BYTES = 4100;

/** The multipart framing around the file: boundaries, part headers, the conversationId field. */
const FRAMING_BYTES = 64 * 1024;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A row for an upload under way: what is not known yet is filled in when it is ready. */
export const UPLOADING = { state: 'uploading', type: 'application/octet-stream', size: 0 } as const;

const NOT_FOUND = () => new AppError('not_found', 'There is no such attachment.');
const NO_CONVERSATION = () => new AppError('not_found', 'There is no such conversation.');

export interface AttachmentDeps {
	db: Db;
	store: BlobStore;
	settings: AttachmentSettings;
	rateLimit: boolean;
	isMember(userId: string, conversationId: string): Promise<boolean>;
}

interface Received {
	type: string;
	size: number;
	name: string;
}

export class Attachments {
	private readonly limiter: RefillingTokenBucket<string>;

	constructor(private readonly deps: AttachmentDeps) {
		const { uploadsPerMinute, uploadBurst } = deps.settings;
		this.limiter = new RefillingTokenBucket(uploadBurst, 60_000 / uploadsPerMinute);
	}

	get store(): BlobStore {
		return this.deps.store;
	}

	/**
	 * POST /api/attachments: the body is read here, as a stream, whatever the outcome; on any
	 * failure nothing is kept (the blobs written so far are deleted) and the rest of the body is
	 * read and dropped (edge.ts discardNodeBody) so the answer reaches a client still sending.
	 */
	async upload(userId: string, contentType: string | undefined, declaredLength: string | undefined, body: Readable): Promise<Attachment> {
		try {
			this.admit(userId, contentType, declaredLength);
			await this.withinQuota(userId, 0);
		} catch (error) {
			discardNodeBody(body);
			throw error;
		}
		const id = randomUUID();
		const { maxBytes } = this.deps.settings;
		let parser: busboy.Busboy;
		try {
			parser = busboy({
				headers: { 'content-type': contentType! },
				defParamCharset: 'utf8',
				// One byte past the limit is enough to know the file is too large.
				limits: { files: 1, fields: 4, parts: 6, fieldSize: 1024, fileSize: maxBytes + 1 }
			});
		} catch {
			discardNodeBody(body);
			throw new AppError('bad_request', 'The multipart body has no boundary.');
		}
		let conversationId: string | undefined;
		let member: Promise<boolean> | undefined;
		let file: Promise<Received> | undefined;
		let failed: unknown;
		let stored = false;
		let finishing: Promise<void> | undefined;
		return new Promise<Attachment>((resolve, reject) => {
			const fail = (error: unknown) => {
				// Once stored, the upload is the client's, whatever the connection does after.
				if (failed || stored) return;
				failed = error;
				body.unpipe(parser);
				// Ends the file stream too, so the write under way stops and deletes what it wrote.
				parser.destroy();
				discardNodeBody(body);
				// After whatever is still running for this upload, so nothing it writes later survives.
				void Promise.allSettled([file, finishing])
					.then(() => this.discard(id))
					.catch((cleanup) => log.error({ err: cleanup }, 'Deleting a failed upload failed'));
				reject(error);
			};
			parser.on('field', (name, value) => {
				if (name === 'conversationId' && conversationId === undefined && UUID.test(value)) {
					conversationId = value.toLowerCase();
					member = this.deps.isMember(userId, conversationId);
					// A stranger's upload stops here, before its bytes are stored.
					member.then((ok) => ok || fail(NO_CONVERSATION()), fail);
				} else if (name === 'conversationId') fail(new AppError('bad_request', 'conversationId must be one conversation id.'));
				else if (name === 'file') fail(new AppError('bad_request', 'Send the file as a file part (with a filename).'));
			});
			parser.on('file', (name, stream, info) => {
				if (name !== 'file' || file) {
					stream.resume();
					return fail(new AppError('bad_request', 'Send exactly one file, in a part named "file".'));
				}
				const fileName = cleanName(info.filename);
				file = (async () => {
					// A stranger's upload stops before a byte is stored, when the field came first to say so.
					if (member && !(await member)) throw NO_CONVERSATION();
					// The row comes before the first chunk, so whatever a crash leaves is found by the sweep.
					await this.deps.db
						.insert(attachments)
						.values({ ...UPLOADING, id, uploaderId: userId, conversationId: conversationId ?? null, name: fileName });
					return this.receive(id, stream, fileName);
				})();
				file.catch(fail);
			});
			for (const limit of ['partsLimit', 'filesLimit', 'fieldsLimit'] as const) {
				parser.on(limit, () => fail(new AppError('bad_request', 'Send one field conversationId and one file part named "file".')));
			}
			parser.on('error', () => fail(new AppError('bad_request', 'The multipart body is malformed.')));
			body.once(
				'close',
				() =>
					(body as Readable & { complete?: boolean }).complete ||
					fail(new AppError('bad_request', 'The body ended before it was complete.'))
			);
			parser.on('close', () => {
				finishing = finish();
			});
			const finish = async () => {
				try {
					if (!file) throw new AppError('bad_request', 'The upload has no file part named "file".');
					if (!member || !conversationId) throw new AppError('bad_request', 'The upload has no conversationId.');
					const received = await file;
					if (!(await member)) throw NO_CONVERSATION();
					if (failed) return;
					await this.withinQuota(userId, received.size);
					const row = await this.ready(id, { ...received, conversationId, ...(await this.imageFields(id, received)) });
					if (failed) return;
					stored = true;
					resolve(toAttachment(row));
				} catch (error) {
					fail(error);
				}
			};
			body.pipe(parser);
		});
	}

	/**
	 * The upload `id` is complete and processed: from now on it may be served and sent. Its raw
	 * copy (an image's, before re-encoding) goes only after, so a crash in between leaves blobs its
	 * row still names.
	 */
	async ready(id: string, fields: Partial<AttachmentRow>): Promise<AttachmentRow> {
		const [row] = await this.deps.db
			.update(attachments)
			.set({ ...fields, state: 'ready' })
			.where(and(eq(attachments.id, id), eq(attachments.state, 'uploading')))
			.returning();
		// Swept meanwhile (a day without a byte), or finished by a request racing this one.
		if (!row) throw new AppError('not_found', 'There is no such upload.');
		await this.deps.store.delete([blobKeys(id).upload]);
		return row;
	}

	/**
	 * A resumable upload's bytes, all in the store under the upload key: the type found in the first
	 * of them, and for an image the re-encoded file and thumbnail, else the bytes copied as the file.
	 */
	async processStored(id: string, name: string, size: number): Promise<Partial<AttachmentRow>> {
		const { store } = this.deps;
		const keys = blobKeys(id);
		const head: Uint8Array[] = [];
		for await (const piece of store.read(keys.upload, 0, Math.min(size, SNIFF_BYTES) - 1)) head.push(piece);
		const type = (await fileTypeFromBuffer(Buffer.concat(head)))?.mime ?? 'application/octet-stream';
		const received = { type, size, name };
		if (IMAGE_TYPES.has(type)) return { ...received, ...(await this.imageFields(id, received)) };
		await store.delete([keys.file]);
		await store.write(keys.file, store.read(keys.upload, 0, size - 1));
		return received;
	}

	/** Deletes an upload that failed part way: its row, if it got one, and every blob it may have. */
	private async discard(id: string): Promise<void> {
		await this.deps.db.delete(attachments).where(and(eq(attachments.id, id), isNull(attachments.messageId)));
		await this.deps.store.delete(allBlobKeys([id]));
	}

	/** The checks that need no byte of the body: content type, declared length, rate. */
	private admit(userId: string, contentType: string | undefined, declaredLength: string | undefined): void {
		if (!/^multipart\/form-data\s*;/i.test(contentType ?? '')) {
			throw new AppError('unsupported_media_type', 'Upload the file as multipart/form-data.');
		}
		if (declaredLength !== undefined && Number(declaredLength) > this.deps.settings.maxBytes + FRAMING_BYTES) throw this.tooLarge();
		this.spendRate(userId);
	}

	/** One upload begins (a multipart POST, or a resumable one created): the per-user rate. */
	spendRate(userId: string): void {
		if (this.deps.rateLimit) {
			const wait = this.limiter.consume(userId);
			if (wait > 0) throw new AppError('rate_limited', 'Too many uploads; wait a moment.', { retryAfter: wait });
		}
	}

	tooLarge(): AppError {
		return new AppError('too_large', `A file can be at most ${formatBytes(this.deps.settings.maxBytes)}.`);
	}

	/** Refuses an upload that would take the user's unsent uploads past the quota. */
	async withinQuota(userId: string, adding: number): Promise<void> {
		const [{ held }] = await this.deps.db
			.select({ held: sql<string>`coalesce(sum(${attachments.size}), 0)` })
			.from(attachments)
			.where(and(eq(attachments.uploaderId, userId), isNull(attachments.messageId)));
		const quota = this.deps.settings.unsentQuotaBytes;
		if (Number(held) + adding > quota || (adding === 0 && Number(held) >= quota)) {
			throw new AppError('too_large', `Your uploads not yet sent take up ${formatBytes(quota)} already; send them or remove some first.`);
		}
	}

	/**
	 * Streams the file part into the store: its first bytes decide its type (and so where it goes:
	 * an image is kept raw only until images.ts has re-encoded it), every byte is counted, and one
	 * past the limit ends it with 413.
	 */
	private async receive(id: string, stream: Readable, name: string): Promise<Received> {
		const keys = blobKeys(id);
		const maxBytes = this.deps.settings.maxBytes;
		const iterator = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
		const head: Buffer[] = [];
		let headBytes = 0;
		while (headBytes < SNIFF_BYTES) {
			const next = await iterator.next();
			if (next.done) break;
			head.push(next.value);
			headBytes += next.value.byteLength;
		}
		if (headBytes === 0) throw new AppError('bad_request', 'The file is empty.');
		const first = Buffer.concat(head);
		const type = (await fileTypeFromBuffer(first))?.mime ?? 'application/octet-stream';
		const tooLarge = () => this.tooLarge();
		async function* counted() {
			let size = first.byteLength;
			if (size > maxBytes) throw tooLarge();
			yield first;
			try {
				for (;;) {
					const next = await iterator.next();
					if (next.done) return;
					size += next.value.byteLength;
					if (size > maxBytes) throw tooLarge();
					yield next.value;
				}
			} finally {
				await iterator.return?.();
			}
		}
		const size = await this.deps.store.write(IMAGE_TYPES.has(type) ? keys.upload : keys.file, counted());
		return { type, size, name };
	}

	/**
	 * For an image: the re-encoded file without metadata and the thumbnail, its dimensions and the
	 * sizes served. One libvips cannot decode is kept as it came, as application/octet-stream, so
	 * it is never shown inline.
	 */
	private async imageFields(id: string, received: Received): Promise<Partial<AttachmentRow>> {
		if (!IMAGE_TYPES.has(received.type)) return {};
		const { store } = this.deps;
		const keys = blobKeys(id);
		const source = () => store.read(keys.upload, 0, received.size - 1);
		let size = 0;
		let thumbnailSize = 0;
		const image = await processImage(
			received.type,
			source,
			async (bytes) => (size = await store.write(keys.file, bytes)),
			async (bytes) => (thumbnailSize = await store.write(keys.thumbnail, bytes))
		);
		if (!image) {
			await store.delete([keys.file, keys.thumbnail]);
			await store.write(keys.file, source());
		}
		if (!image) return { type: 'application/octet-stream' };
		return { size, width: image.width, height: image.height, thumbnailSize };
	}

	/**
	 * An attachment `userId` may download: of a message in one of their conversations, or their own
	 * upload not sent yet. Anything else is 404, as if it did not exist.
	 */
	async visible(userId: string, id: string): Promise<AttachmentRow> {
		if (!UUID.test(id)) throw NOT_FOUND();
		const [row] = await this.deps.db.select().from(attachments).where(eq(attachments.id, id.toLowerCase()));
		if (!row || row.state !== 'ready') throw NOT_FOUND();
		const allowed = row.messageId === null ? row.uploaderId === userId : await this.deps.isMember(userId, row.conversationId!);
		if (!allowed) throw NOT_FOUND();
		return row;
	}

	/**
	 * Deletes uploads older than `unsentMaxAgeMs` that no message took; returns how many. A send
	 * that takes one meanwhile holds its row's lock, so the delete sees it sent and leaves it.
	 */
	async sweep(now = Date.now()): Promise<number> {
		const cutoff = new Date(now - this.deps.settings.unsentMaxAgeMs);
		return this.deleteUnsent(lt(attachments.createdAt, cutoff));
	}

	/** A deleted account's uploads that no message took (those of its messages go with the messages). */
	deleteUnsentOf(userId: string): Promise<number> {
		return this.deleteUnsent(eq(attachments.uploaderId, userId));
	}

	private async deleteUnsent(which: SQL): Promise<number> {
		let total = 0;
		for (;;) {
			const old = this.deps.db
				.select({ id: attachments.id })
				.from(attachments)
				.where(and(isNull(attachments.messageId), which))
				.limit(100);
			const deleted = await this.deps.db
				.delete(attachments)
				.where(and(inArray(attachments.id, old), isNull(attachments.messageId)))
				.returning({ id: attachments.id });
			if (deleted.length === 0) return total;
			await this.deps.store.delete(allBlobKeys(deleted.map((d) => d.id)));
			total += deleted.length;
		}
	}
}

function formatBytes(bytes: number): string {
	if (bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)} MiB`;
	if (bytes % 1024 === 0) return `${bytes / 1024} KiB`;
	return `${bytes} bytes`;
}
