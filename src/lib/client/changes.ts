/**
 * Edits, deletes and reactions, offline-first: each is written to Dexie at once (the UI shows it
 * applied, see pending.ts) and delivered by the change scheduler with the outbox's retry rules
 * (delivery.ts). A message's changes leave one at a time, in the order they were made, and not
 * before the message itself is acked. Whatever the server answers (or any later copy of the message
 * from the stream) replaces the local copy only if its version is not older, so copies arriving out
 * of order never undo a newer one.
 */
import type { ClientFrame, MessageChange } from '$lib/schemas';
import type { Message } from '$lib/types';
import { ChangeRefused } from './change-refused';
import { ConversationRows } from './conversation-rows';
import { getMeta, META, setMeta, uuid, type DuetDb, type LocalMessage, type PendingChange } from './db';
import { DeliveryScheduler, type DeliveryDeps, type DeliveryQueue } from './delivery';
import { deleteUnsent } from './outbox';

type ChangeFrame = Extract<ClientFrame, { type: 'change' }>;

export { ChangeRefused };

/**
 * Queues `change` of `message`. Deleting a message the server has not acked just takes it out of
 * the outbox; should the server have stored it meanwhile, it is deleted there when it shows up.
 */
export async function queueChange(db: DuetDb, me: string, message: LocalMessage, change: MessageChange): Promise<void> {
	if ((change.op === 'edit' || change.op === 'delete') && message.senderId !== me) {
		throw new ChangeRefused('Only the sender can change a message.');
	}
	if (change.op !== 'delete' && message.deletedAt) throw new ChangeRefused('This message was deleted.');
	if (change.op === 'delete' && message.status !== 'sent') {
		await deleteUnsent(db, message.id);
		return;
	}
	await db.transaction('rw', [db.changes, db.meta], () => addChange(db, message, change));
}

async function addChange(db: DuetDb, message: Pick<Message, 'id' | 'conversationId'>, change: MessageChange): Promise<void> {
	const order = ((await getMeta<number>(db, META.changeOrder)) ?? 0) + 1;
	await setMeta(db, META.changeOrder, order);
	await db.changes.add({
		id: uuid(),
		order,
		messageId: message.id,
		conversationId: message.conversationId,
		change,
		state: 'queued',
		attempts: 0,
		nextAttemptAt: 0
	});
}

/**
 * Stores a copy of a message from the server unless the local one is newer; returns whether it
 * did. Call inside a transaction over messages, outbox, changes, conversations and meta; a caller
 * storing several messages in it passes its `conversations`, so each row is read once. A message
 * this device discarded before it was acked is deleted on the server now that it turned out to be stored.
 */
export async function storeServerCopy(db: DuetDb, message: Message, conversations = new ConversationRows(db)): Promise<boolean> {
	const existing = await db.messages.get(message.id);
	if (existing && (existing.version ?? 0) > message.version) return false;
	await db.messages.put({ ...message, status: 'sent' });
	await db.outbox.delete(message.id);
	// An edit or delete of the last message shows in the conversation list too.
	const conv = await conversations.get(message.conversationId);
	if (conv?.lastMessage?.id === message.id) await conversations.put({ ...conv, lastMessage: message });
	if (!existing && !message.deletedAt && (await getMeta(db, META.discarded(message.id)))) {
		await db.meta.delete(META.discarded(message.id));
		await addChange(db, message, { op: 'delete', messageId: message.id });
	}
	return true;
}

/** The server answered change `id` with `message`: the change is done, its result stored. */
export async function applyChanged(db: DuetDb, id: string, message: Message): Promise<void> {
	await db.transaction('rw', [db.messages, db.outbox, db.changes, db.meta, db.conversations], async () => {
		await db.changes.delete(id);
		await storeServerCopy(db, message);
	});
}

/** The user has read why a change failed: it leaves the queue (it was never applied). */
export function dismissChange(db: DuetDb, id: string): Promise<void> {
	return db.changes.delete(id);
}

function changeQueue(db: DuetDb): DeliveryQueue<PendingChange, ChangeFrame> {
	return {
		items: () => db.changes.orderBy('order').toArray(),
		get: (id) => db.changes.get(id),
		lane: (item) => item.messageId,
		pipelined: false,
		frame: async (item) => {
			const message = await db.messages.get(item.messageId);
			if (!message) return null;
			// Still being sent: the server could not find it yet.
			if (message.seq === undefined) return 'wait';
			return { type: 'change', id: item.id, change: item.change };
		},
		update: async (id, patch) => {
			await db.changes.update(id, patch);
		},
		dueNow: async () => {
			await db.changes.where('state').equals('queued').modify({ nextAttemptAt: 0 });
		},
		drop: (id) => db.changes.delete(id),
		fail: async (id, error) => {
			await db.changes.update(id, { state: 'failed', lastError: error });
		}
	};
}

/** Delivers the change queue; a refused change is marked failed and shown with its reason. */
export class ChangeScheduler extends DeliveryScheduler<PendingChange, ChangeFrame> {
	constructor(
		private readonly db: DuetDb,
		deps: DeliveryDeps<ChangeFrame>
	) {
		super(changeQueue(db), deps);
	}

	onChanged(id: string, message: Message): Promise<void> {
		return this.answered(id, () => applyChanged(this.db, id, message));
	}
}
