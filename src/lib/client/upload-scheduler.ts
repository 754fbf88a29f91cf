/**
 * Uploads the files of unsent messages (uploads.ts), only in the leader tab, with the outbox's
 * retry rules (delivery.ts): one at a time per conversation, in the order they were chosen. A file
 * the server refuses fails its message, which then offers Retry and Delete like any failed send.
 */
import { AppError } from '$lib/errors';
import type { ErrorCode } from '$lib/protocol';
import type { DuetDb, PendingUpload } from './db';
import { DeliveryScheduler, type Deliverable, type DeliveryDeps, type DeliveryQueue } from './delivery';
import { UploadAborted, type Uploader } from './upload-http';
import { storeUpload } from './uploads';

/** An upload that may take minutes on a slow line is still in flight, not lost, until this passes. */
export const UPLOAD_TIMEOUT_MS = 10 * 60_000;

/** An upload as the delivery scheduler sees it: `uploading` is only a hint, so it counts as queued. */
export interface UploadItem extends Deliverable {
	messageId: string;
	conversationId: string;
}

export interface UploadFrame {
	id: string;
	conversationId: string;
	blob: Blob;
	name: string;
	uploadId?: string;
}

function itemOf(row: PendingUpload): UploadItem | undefined {
	if (row.state === 'stored') return undefined;
	return {
		id: row.id,
		messageId: row.messageId,
		conversationId: row.conversationId,
		state: row.state === 'failed' ? 'failed' : 'queued',
		attempts: row.attempts,
		nextAttemptAt: row.nextAttemptAt,
		lastError: row.lastError
	};
}

function uploadQueue(db: DuetDb): DeliveryQueue<UploadItem, UploadFrame> {
	return {
		async items() {
			const rows = await db.uploads.toArray();
			// Left behind when the message's copy came from the stream instead of its ack, or it was deleted.
			const ids = [...new Set(rows.map((r) => r.messageId))];
			const messages = await db.messages.bulkGet(ids);
			const unsent = new Set(messages.flatMap((m) => (m && m.status !== 'sent' ? [m.id] : [])));
			const orphans = rows.filter((r) => !unsent.has(r.messageId)).map((r) => r.id);
			if (orphans.length > 0) await db.uploads.bulkDelete(orphans);
			return rows
				.filter((r) => unsent.has(r.messageId))
				.sort((a, b) => a.clientSeq - b.clientSeq || a.order - b.order)
				.flatMap((r) => itemOf(r) ?? []);
		},
		get: async (id) => {
			const row = await db.uploads.get(id);
			return row && itemOf(row);
		},
		lane: (item) => item.conversationId,
		// One file at a time per conversation: ten large files at once would starve each other.
		pipelined: false,
		frame: async (item) => {
			const row = await db.uploads.get(item.id);
			if (!row) return null;
			return { id: row.id, conversationId: row.conversationId, blob: row.blob, name: row.name, uploadId: row.uploadId };
		},
		update: async (id, patch) => {
			// A retriable failure: no longer uploading, waiting for its next attempt.
			await db.uploads
				.where('id')
				.equals(id)
				.modify({ ...patch, state: 'queued' });
		},
		dueNow: async () => {
			await db.uploads.where('state').anyOf('queued', 'uploading').modify({ nextAttemptAt: 0 });
		},
		drop: async (id) => {
			await db.uploads.delete(id);
		},
		fail: (id, error) =>
			db.transaction('rw', [db.uploads, db.outbox, db.messages], async () => {
				const row = await db.uploads.get(id);
				if (!row) return;
				await db.uploads.update(id, { state: 'failed', attempts: row.attempts + 1, lastError: error });
				const item = await db.outbox.get(row.messageId);
				if (item) await db.outbox.update(item.id, { state: 'failed', lastError: `${row.name}: ${error}` });
				await db.messages.update(row.messageId, { status: 'failed' });
			})
	};
}

export interface UploadDeps extends Omit<DeliveryDeps<UploadFrame>, 'send'> {
	db: DuetDb;
	upload: Uploader;
	/** False while the browser knows it is offline: nothing is started, no attempt is spent. */
	online?: () => boolean;
	/** Fraction sent of upload `id`, null once it is over either way. */
	progress?: (id: string, fraction: number | null) => void;
	/** A file is stored: its message may be ready to send. */
	onStored?: (messageId: string) => void;
}

/**
 * The server refuses a file's type for good, whatever the protocol says of 415 for other requests:
 * the same bytes will not become acceptable by trying again.
 */
function codeOf(error: unknown): ErrorCode {
	if (!(error instanceof AppError)) return 'internal';
	return error.code === 'unsupported_media_type' ? 'bad_request' : error.code;
}

/** Uploads the pending files, only in the leader tab (client.svelte.ts). */
export class UploadScheduler extends DeliveryScheduler<UploadItem, UploadFrame> {
	private readonly db: DuetDb;
	private readonly options: UploadDeps;
	/** Requests running in this tab, by upload id. */
	private readonly requests = new Map<string, AbortController>();

	constructor(deps: UploadDeps) {
		const online = deps.online ?? (() => true);
		const starter: { start?: (frame: UploadFrame) => void } = {};
		super(uploadQueue(deps.db), {
			ackTimeoutMs: UPLOAD_TIMEOUT_MS,
			...deps,
			send: (frame) => {
				if (!online()) return false;
				starter.start?.(frame);
				return true;
			}
		});
		this.db = deps.db;
		this.options = deps;
		starter.start = (frame) => this.start(frame);
	}

	/** The user took the file off: its request stops, and it is no longer waited for. */
	cancel(id: string): Promise<void> {
		this.requests.get(id)?.abort();
		return this.answered(id, async () => {});
	}

	/** This tab stops leading: another one takes the files over from their rows. */
	abortAll(): void {
		const running = [...this.requests];
		this.requests.clear();
		for (const [id, controller] of running) {
			controller.abort();
			this.options.progress?.(id, null);
		}
	}

	/** Uploads whose rows are gone (cancelled in another tab) stop here too. */
	async keepOnly(ids: readonly string[]): Promise<void> {
		const keep = new Set(ids);
		for (const id of [...this.requests.keys()]) if (!keep.has(id)) await this.cancel(id);
	}

	/** A request past UPLOAD_TIMEOUT_MS is taken for stuck: the retry starts afresh. */
	protected override expired(id: string): void {
		const controller = this.requests.get(id);
		if (!controller) return;
		this.requests.delete(id);
		controller.abort();
		this.options.progress?.(id, null);
	}

	private start(frame: UploadFrame): void {
		// HTTP outlives the scheduler's idea of a connection: a new one (an `online` event, the service
		// worker's flush request) hands off again what is still being sent, and that request carries on.
		if (this.requests.has(frame.id)) return;
		const controller = new AbortController();
		this.requests.set(frame.id, controller);
		void this.db.uploads
			.where('id')
			.equals(frame.id)
			.filter((r) => r.state === 'queued')
			.modify({ state: 'uploading' });
		this.options.progress?.(frame.id, 0);
		this.options
			.upload({
				conversationId: frame.conversationId,
				blob: frame.blob,
				name: frame.name,
				uploadId: frame.uploadId,
				// Read from the row on the next attempt, in this tab or whichever leads after it.
				onCreated: async (uploadId) => void (await this.db.uploads.update(frame.id, { uploadId })),
				signal: controller.signal,
				onProgress: (fraction) => this.options.progress?.(frame.id, fraction)
			})
			.then(
				async (attachment) => {
					await this.answered(frame.id, () => storeUpload(this.db, frame.id, attachment));
					const row = await this.db.uploads.get(frame.id);
					if (row) this.options.onStored?.(row.messageId);
				},
				async (error: unknown) => {
					if (error instanceof UploadAborted) return;
					const message = error instanceof Error ? error.message : 'The upload failed.';
					await this.onError(frame.id, codeOf(error), message, error instanceof AppError ? error.retryAfter : undefined);
				}
			)
			.catch((error: unknown) => console.error('Could not record the upload', error))
			.finally(() => {
				// A request replaced by a newer one of the same file leaves the newer one's progress alone.
				if (this.requests.get(frame.id) !== controller) return;
				this.requests.delete(frame.id);
				this.options.progress?.(frame.id, null);
			});
	}
}
