/**
 * The outbox: every message typed is written to Dexie first (status `sending`) and then
 * delivered, in clientSeq order per conversation, until the server acks it (delivery.ts holds
 * the retry rules). A failed message gets retry and delete in the UI.
 */
import type { Ack } from '$lib/types';
import { sendOf } from '$lib/message-rules';
import type { MessageContentInput, SendInput } from '$lib/schemas';
import { ensureClientId, META, uuid, type DuetDb, type LocalMessage, type OutboxItem } from './db';
import { DeliveryScheduler, type DeliveryDeps, type DeliveryQueue } from './delivery';
import { filesPending } from './send-attachments';

export { ACK_TIMEOUT_MS, MAX_ATTEMPTS } from './delivery';

/**
 * Stores a new message and its outbox item in one transaction. The clientSeq counter lives in
 * the same database, so two tabs (two connections) allocating at once still get distinct numbers.
 */
export async function enqueueMessage(
	db: DuetDb,
	input: MessageContentInput & { conversationId: string; senderId: string; id?: string },
	now: () => number = Date.now
): Promise<LocalMessage> {
	const clientId = await ensureClientId(db);
	return db.transaction('rw', [db.meta, db.messages, db.outbox], async () => {
		const key = META.clientSeq(input.conversationId);
		const clientSeq = (((await db.meta.get(key))?.value as number | undefined) ?? 0) + 1;
		await db.meta.put({ key, value: clientSeq });
		const message: LocalMessage = {
			...input,
			replyTo: input.replyTo ?? null,
			id: input.id ?? uuid(),
			clientId,
			clientSeq,
			createdAt: new Date(now()).toISOString(),
			editedAt: null,
			deletedAt: null,
			reactions: [],
			attachments: [],
			preview: null,
			version: 0,
			status: 'sending'
		};
		await db.messages.add(message);
		await db.outbox.add({
			id: message.id,
			conversationId: input.conversationId,
			clientSeq,
			state: 'queued',
			attempts: 0,
			nextAttemptAt: 0
		});
		return message;
	});
}

/**
 * Applies an ack: the optimistic row becomes the confirmed one and leaves the outbox. Its files'
 * local copies go too: the server has them, and the message row names them.
 */
export async function applyAck(db: DuetDb, ack: Ack): Promise<void> {
	await db.transaction('rw', [db.messages, db.outbox, db.uploads], async () => {
		await db.messages.update(ack.id, { seq: ack.seq, createdAt: ack.createdAt, status: 'sent' });
		await db.outbox.delete(ack.id);
		await db.uploads.where('messageId').equals(ack.id).delete();
	});
}

/** The user asked to try a failed message again: a fresh budget, due now, for it and its failed files. */
export async function retryMessage(db: DuetDb, id: string): Promise<void> {
	await db.transaction('rw', [db.messages, db.outbox, db.uploads], async () => {
		const item = await db.outbox.get(id);
		if (!item) return;
		await db.outbox.put({ ...item, state: 'queued', attempts: 0, nextAttemptAt: 0, lastError: undefined });
		await db.messages.update(id, { status: 'sending' });
		await db.uploads
			.where('messageId')
			.equals(id)
			.filter((u) => u.state === 'failed')
			.modify({ state: 'queued', attempts: 0, nextAttemptAt: 0, lastError: undefined });
	});
}

/**
 * Deletes an unsent message with the changes queued for it; a message the server already acked is
 * deleted by a change instead. It may have been stored all the same (its ack lost on the way): it
 * is remembered, and deleted on the server should it ever show up (changes.ts storeServerCopy).
 */
export async function deleteUnsent(db: DuetDb, id: string): Promise<void> {
	await db.transaction('rw', [db.messages, db.outbox, db.changes, db.uploads, db.meta], async () => {
		const row = await db.messages.get(id);
		if (row && row.status === 'sent') return;
		await db.outbox.delete(id);
		await db.messages.delete(id);
		await db.changes.where('messageId').equals(id).delete();
		await db.uploads.where('messageId').equals(id).delete();
		await db.meta.put({ key: META.discarded(id), value: 1 });
	});
}

export type SchedulerDeps = DeliveryDeps<SendInput> & { db: DuetDb };

/** The outbox as a delivery queue: a conversation's sends leave in clientSeq order, several in flight at once. */
function outboxQueue(db: DuetDb): DeliveryQueue<OutboxItem, SendInput> {
	return {
		items: () => db.outbox.orderBy('[conversationId+clientSeq]').toArray(),
		get: (id) => db.outbox.get(id),
		lane: (item) => item.conversationId,
		pipelined: true,
		// One read of the message and its files: a file stored between two reads would leave a
		// copy of the message from before it, naming none of its files, to be sent without them.
		frame: (item) =>
			db.transaction('r', [db.messages, db.uploads], async () => {
				const message = await db.messages.get(item.id);
				if (!message) return null;
				// Its files are not all on the server yet: the send would name ids that do not exist.
				if (await filesPending(db, item.id)) return 'wait' as const;
				return sendOf(message);
			}),
		update: async (id, patch) => {
			await db.outbox.update(id, patch);
		},
		dueNow: async () => {
			await db.outbox.where('state').equals('queued').modify({ nextAttemptAt: 0 });
		},
		drop: (id) => db.outbox.delete(id),
		fail: (id, error) =>
			db.transaction('rw', [db.messages, db.outbox], async () => {
				const item = await db.outbox.get(id);
				if (!item) return;
				await db.outbox.update(id, { state: 'failed', attempts: item.attempts + 1, lastError: error });
				await db.messages.update(id, { status: 'failed' });
			})
	};
}

/** Delivers the outbox; a failed message shows retry and delete in the UI. */
export class OutboxScheduler extends DeliveryScheduler<OutboxItem, SendInput> {
	private readonly db: DuetDb;

	constructor(deps: SchedulerDeps) {
		super(outboxQueue(deps.db), deps);
		this.db = deps.db;
	}

	onAck(ack: Ack): Promise<void> {
		return this.answered(ack.id, () => applyAck(this.db, ack));
	}
}
