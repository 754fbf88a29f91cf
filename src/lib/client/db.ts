/**
 * The browser's local database (IndexedDB through Dexie), one per signed-in user: the UI reads
 * only from here, the sync engine and the outbox write to it. A second account on the same
 * browser opens a different database and never sees the first one's rows.
 */
import Dexie, { type EntityTable } from 'dexie';
import type { MessageChange } from '$lib/schemas';
import type { Attachment, Conversation, Message } from '$lib/types';
import { dbName } from './db-name';
import { uuid } from './uuid';

export { uuid };

export { dbName };

/** `sending`/`failed` rows are ours and not yet acked; `sent` rows carry the server's seq. */
export type LocalStatus = 'sending' | 'sent' | 'failed';

/**
 * One row per message id: the optimistic copy becomes the confirmed copy when its ack or its
 * message event arrives, so a message is never shown twice. `seq` is absent until then, which
 * keeps pending rows out of the [conversationId+seq] index.
 */
export interface LocalMessage extends Omit<Message, 'seq'> {
	seq?: number;
	status: LocalStatus;
}

export interface LocalConversation extends Conversation {
	/** ISO time used to sort the list: the last message's, or when this client first saw it. */
	activity: string;
	/** Highest seq this user's clients reported delivered (from our own receipt events). */
	myDeliveredSeq: number;
}

export interface OutboxItem {
	id: string;
	conversationId: string;
	clientSeq: number;
	state: 'queued' | 'failed';
	/** Attempts that ended without an ack (timeouts and retriable errors), not disconnects. */
	attempts: number;
	/** Epoch ms before which the scheduler leaves the item alone (backoff). */
	nextAttemptAt: number;
	lastError?: string;
}

/**
 * An edit, delete or reaction made here and not yet answered by the server. The UI shows the
 * message with its pending changes applied on top (pending.ts), so a refused change rolls back by
 * itself when its row leaves; a `failed` one stays, unapplied, until the user has seen why.
 */
export interface PendingChange {
	/** The change frame's id, which the server's answer echoes. */
	id: string;
	/** Write order: a message's changes leave in this order. */
	order: number;
	messageId: string;
	conversationId: string;
	change: MessageChange;
	state: 'queued' | 'failed';
	attempts: number;
	nextAttemptAt: number;
	lastError?: string;
}

/**
 * A file chosen for a message, kept here with its bytes until the server has it: shown from the
 * local Blob meanwhile, uploaded by the leader tab (uploads.ts) with the outbox's retry rules, and
 * deleted once its message is acked. `uploading` is only a hint for other tabs: after a reload it
 * counts as `queued`, since the request it stood for died with the page.
 */
export interface PendingUpload {
	id: string;
	messageId: string;
	conversationId: string;
	/** The message's: files of earlier messages go first. */
	clientSeq: number;
	/** Its place among the message's files. */
	order: number;
	blob: Blob;
	name: string;
	type: string;
	size: number;
	width: number | null;
	height: number | null;
	state: 'queued' | 'uploading' | 'stored' | 'failed';
	attempts: number;
	nextAttemptAt: number;
	lastError?: string;
	/** The server's resumable upload of the file (upload-http.ts), once one was created. */
	uploadId?: string;
	/** The server's answer, once `stored`. */
	attachment?: Attachment;
}

export interface Draft {
	conversationId: string;
	body: string;
	updatedAt: number;
}

export interface Presence {
	userId: string;
	online: boolean;
	lastSeenAt: string | null;
}

export interface MetaRow {
	key: string;
	value: string | number;
}

export type DuetDb = Dexie & {
	messages: EntityTable<LocalMessage, 'id'>;
	conversations: EntityTable<LocalConversation, 'id'>;
	outbox: EntityTable<OutboxItem, 'id'>;
	changes: EntityTable<PendingChange, 'id'>;
	uploads: EntityTable<PendingUpload, 'id'>;
	drafts: EntityTable<Draft, 'conversationId'>;
	presence: EntityTable<Presence, 'userId'>;
	meta: EntityTable<MetaRow, 'key'>;
};

export function openUserDb(userId: string): DuetDb {
	const db = new Dexie(dbName(userId)) as DuetDb;
	db.version(1).stores({
		messages: 'id, [conversationId+seq], conversationId',
		conversations: 'id, activity',
		outbox: 'id, [conversationId+clientSeq], state',
		drafts: 'conversationId',
		presence: 'userId',
		meta: 'key'
	});
	db.version(2).stores({ changes: 'id, order, messageId, conversationId, state' });
	db.version(3).stores({ uploads: 'id, messageId, conversationId, state' });
	return db;
}

export function deleteUserDb(userId: string): Promise<void> {
	return Dexie.delete(dbName(userId));
}

export const META = {
	cursor: 'cursor',
	clientId: 'clientId',
	userId: 'userId',
	/** Set once a full fetch of conversations and recent history has succeeded. */
	bootstrapped: 'bootstrapped',
	clientSeq: (conversationId: string) => `clientSeq:${conversationId}`,
	/** Order of the last change written here (PendingChange.order). */
	changeOrder: 'changeOrder',
	/** An unsent message the user deleted: should the server have stored it after all, it is deleted there too. */
	discarded: (messageId: string) => `discarded:${messageId}`
} as const;

export async function getMeta<T extends string | number>(db: DuetDb, key: string): Promise<T | undefined> {
	return (await db.meta.get(key))?.value as T | undefined;
}

export async function setMeta(db: DuetDb, key: string, value: string | number): Promise<void> {
	await db.meta.put({ key, value });
}

/** This install's clientId for the user, created once; a rw transaction makes tabs agree. */
export function ensureClientId(db: DuetDb): Promise<string> {
	return db.transaction('rw', db.meta, async () => {
		const existing = await getMeta<string>(db, META.clientId);
		if (existing) return existing;
		const id = uuid();
		await setMeta(db, META.clientId, id);
		return id;
	});
}
