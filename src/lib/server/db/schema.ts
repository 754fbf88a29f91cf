/**
 * The whole database: accounts and sessions, 1:1 conversations, messages, and the per-user event
 * log that gives every user one ordered, resumable stream: a per-user counter bumped under a row
 * lock in the writing transaction, since a global sequence is not commit-ordered (a reader can see
 * id 11 before id 10 commits) and so cannot be a resume cursor.
 */
import { sql } from 'drizzle-orm';
import type { DurableEvents, LinkPreview } from '../../types';
import { searchableBody } from './search-index';
import {
	bigint,
	boolean,
	customType,
	index,
	integer,
	jsonb,
	pgTable,
	primaryKey,
	text,
	timestamp,
	uniqueIndex,
	uuid
} from 'drizzle-orm/pg-core';

const bytea = customType<{ data: Uint8Array; driverData: Uint8Array }>({
	dataType: () => 'bytea',
	// postgres.js hands back a Buffer, PGlite a Uint8Array; both are Uint8Arrays to us.
	fromDriver: (value) => new Uint8Array(value)
});

const tstz = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

export const users = pgTable('users', {
	id: uuid('id').primaryKey(),
	username: text('username').notNull().unique(),
	passwordHash: text('password_hash').notNull(),
	/** Last cursor handed out in this user's event log; bumped under the row lock. */
	eventSeq: bigint('event_seq', { mode: 'number' }).notNull().default(0),
	lastSeenAt: tstz('last_seen_at'),
	createdAt: tstz('created_at').notNull().defaultNow(),
	/** Signal's rule: off, the user's read state is not shown to peers and theirs not to the user. */
	readReceipts: boolean('read_receipts').notNull().default(true),
	/** Set by the operator (`npm run admin -- disable`): signing in fails and every session ends. */
	disabledAt: tstz('disabled_at'),
	/** A deleted account keeps its row (and so its username, never given out again); nothing else. */
	deletedAt: tstz('deleted_at')
});

export const sessions = pgTable(
	'sessions',
	{
		id: text('id').primaryKey(),
		secretHash: bytea('secret_hash').notNull(),
		userId: uuid('user_id')
			.notNull()
			.references(() => users.id, { onDelete: 'cascade' }),
		createdAt: tstz('created_at').notNull(),
		lastVerifiedAt: tstz('last_verified_at').notNull(),
		/** The browser's User-Agent at sign-in, shown in plain words in the sessions list. */
		userAgent: text('user_agent'),
		/** The client address last seen (at sign-in, then at each renewal): "roughly where". */
		address: text('address')
	},
	(t) => [index('sessions_user_idx').on(t.userId)]
);

export const conversations = pgTable('conversations', {
	id: uuid('id').primaryKey(),
	/** "smallerUserId:largerUserId": makes get-or-create of a 1:1 conversation race-free. */
	pairKey: text('pair_key').notNull().unique(),
	lastSeq: integer('last_seq').notNull().default(0),
	lastActivityAt: tstz('last_activity_at').notNull().defaultNow(),
	createdAt: tstz('created_at').notNull().defaultNow()
});

export const members = pgTable(
	'conversation_members',
	{
		conversationId: uuid('conversation_id')
			.notNull()
			.references(() => conversations.id, { onDelete: 'cascade' }),
		userId: uuid('user_id')
			.notNull()
			.references(() => users.id, { onDelete: 'cascade' }),
		deliveredSeq: integer('delivered_seq').notNull().default(0),
		readSeq: integer('read_seq').notNull().default(0),
		/** No push or system notification for this member, and not counted in their app badge. */
		muted: boolean('muted').notNull().default(false)
	},
	(t) => [primaryKey({ columns: [t.conversationId, t.userId] }), index('members_user_idx').on(t.userId)]
);

export const messages = pgTable(
	'messages',
	{
		id: uuid('id').primaryKey(),
		conversationId: uuid('conversation_id')
			.notNull()
			.references(() => conversations.id, { onDelete: 'cascade' }),
		seq: integer('seq').notNull(),
		senderId: uuid('sender_id')
			.notNull()
			.references(() => users.id, { onDelete: 'cascade' }),
		clientId: uuid('client_id').notNull(),
		clientSeq: integer('client_seq').notNull(),
		body: text('body').notNull(),
		createdAt: tstz('created_at').notNull().defaultNow(),
		/** Checked at commit to be a stored message of the same conversation; no FK, a deleted one keeps its row. */
		replyTo: uuid('reply_to'),
		editedAt: tstz('edited_at'),
		deletedAt: tstz('deleted_at'),
		/** Bumped by every change under the row's lock, so it orders changes by commit (see types.ts Message.version). */
		version: integer('version').notNull().default(0),
		/**
		 * A snapshot of the first link's preview, set by a change after the send commits: the message
		 * shows what it showed when fetched, however the link_previews cache moves on.
		 */
		preview: jsonb('preview').$type<LinkPreview>()
	},
	(t) => [
		uniqueIndex('messages_conversation_seq_idx').on(t.conversationId, t.seq),
		index('messages_client_seq_idx').on(t.conversationId, t.clientId, t.clientSeq),
		// Full-text search (chat/search.ts). An expression index rather than a stored column keeps
		// rows small; 'simple' does no stemming, so it treats every language alike. Renamed when its
		// expression changed (accents folded), so the migration replaces it rather than keeping both.
		index('messages_body_folded_search_idx').using('gin', searchableBody(t.body)),
		// Message retention (chat/message-retention.ts) takes the oldest messages not yet deleted.
		index('messages_live_created_idx')
			.on(t.createdAt)
			.where(sql`${t.deletedAt} is null`)
	]
);

/**
 * One row per (message, emoji, member). `version` is the message's version the reaction was added
 * at: commit-ordered under the message's row lock, it orders emojis by when each was first chosen.
 */
export const reactions = pgTable(
	'message_reactions',
	{
		messageId: uuid('message_id')
			.notNull()
			.references(() => messages.id, { onDelete: 'cascade' }),
		emoji: text('emoji').notNull(),
		userId: uuid('user_id')
			.notNull()
			.references(() => users.id, { onDelete: 'cascade' }),
		version: integer('version').notNull()
	},
	(t) => [primaryKey({ columns: [t.messageId, t.emoji, t.userId] })]
);

/** The log stores durable events only. */
export type EventType = keyof DurableEvents;

/**
 * One row per durable event per recipient. `seq` is the user's cursor: allocated from
 * users.event_seq under that row's lock, so a user's events commit in cursor order.
 */
export const userEvents = pgTable(
	'user_events',
	{
		userId: uuid('user_id')
			.notNull()
			.references(() => users.id, { onDelete: 'cascade' }),
		seq: bigint('seq', { mode: 'number' }).notNull(),
		type: text('type').$type<EventType>().notNull(),
		conversationId: uuid('conversation_id').notNull(),
		messageId: uuid('message_id'),
		/** Receipt figures at the time of the event; null for other types. */
		data: jsonb('data').$type<{ userId: string; deliveredSeq: number; readSeq: number }>(),
		createdAt: tstz('created_at')
			.notNull()
			.default(sql`now()`)
	},
	// created_at: what retention (chat/retention.ts) prunes by, oldest first.
	(t) => [primaryKey({ columns: [t.userId, t.seq] }), index('user_events_created_idx').on(t.createdAt)]
);

/** Web Push subscriptions (one row per browser endpoint); `previews` opts in to message text in the payload. */
export const pushSubscriptions = pgTable(
	'push_subscriptions',
	{
		endpoint: text('endpoint').primaryKey(),
		userId: uuid('user_id')
			.notNull()
			.references(() => users.id, { onDelete: 'cascade' }),
		p256dh: text('p256dh').notNull(),
		auth: text('auth').notNull(),
		previews: boolean('previews').notNull().default(false),
		createdAt: tstz('created_at').notNull().defaultNow()
	},
	(t) => [index('push_subscriptions_user_idx').on(t.userId)]
);

/** The server's VAPID key pair when it is not given in the environment: generated once, shared by every instance. */
export const pushKeys = pgTable('push_keys', {
	id: integer('id').primaryKey(),
	publicKey: text('public_key').notNull(),
	privateKey: text('private_key').notNull()
});

/**
 * Link previews (src/lib/server/previews): one row per page URL, a fetch's result kept for a
 * while so a link posted many times is fetched once. `status` `failed` is a cached failure (with
 * its `reason`), so a dead or refused link is not fetched again on every message either.
 */
export const linkPreviews = pgTable('link_previews', {
	url: text('url').primaryKey(),
	status: text('status').$type<'ok' | 'failed'>().notNull(),
	/** Why the fetch failed (a guard.ts FailureReason); null when it worked. */
	reason: text('reason'),
	title: text('title'),
	description: text('description'),
	/** The image's own URL; clients only ever get the proxy's. */
	imageUrl: text('image_url'),
	siteName: text('site_name'),
	fetchedAt: tstz('fetched_at').notNull()
});

/**
 * A file uploaded to a conversation. `messageId` is null until a send that names it commits (the
 * upload is then visible to its uploader only, and swept when never sent); a deleted message's
 * attachments are deleted with it. The bytes live in a BlobStore (attachments/store.ts), under
 * keys derived from the id, so this row says nothing about where they are.
 */
export const attachments = pgTable(
	'attachments',
	{
		id: uuid('id').primaryKey(),
		uploaderId: uuid('uploader_id')
			.notNull()
			.references(() => users.id, { onDelete: 'cascade' }),
		/** Null only while a multipart upload whose file part came before its conversationId is under way. */
		conversationId: uuid('conversation_id').references(() => conversations.id, { onDelete: 'cascade' }),
		messageId: uuid('message_id').references(() => messages.id, { onDelete: 'cascade' }),
		/** Where it sits in its message's `attachments` (set with `messageId`). */
		position: integer('position'),
		name: text('name').notNull(),
		/** Found in the bytes, never the client's claim. */
		type: text('type').notNull(),
		/** Bytes served, which for an image is the re-encoded file without its metadata. */
		size: integer('size').notNull(),
		width: integer('width'),
		height: integer('height'),
		/** Images only: the WebP thumbnail's size (null: there is none). */
		thumbnailSize: integer('thumbnail_size'),
		/**
		 * `uploading` from the first byte stored until the file is complete and processed: never
		 * served, never sendable, but its blobs are found (and swept) through it, even after a crash.
		 */
		state: text('state', { enum: ['uploading', 'ready'] })
			.notNull()
			.default('ready'),
		/** A resumable upload's bytes stored so far (whole chunks but at the end); null for one multipart POST. */
		received: integer('received'),
		createdAt: tstz('created_at').notNull().defaultNow()
	},
	(t) => [
		index('attachments_message_idx').on(t.messageId),
		// The quota and the sweep look at unsent uploads only.
		index('attachments_unsent_idx')
			.on(t.uploaderId, t.createdAt)
			.where(sql`${t.messageId} is null`)
	]
);

/**
 * The database BlobStore's bytes (attachments/database-store.ts): each blob as numbered chunks, so
 * no row (and no read of one) is ever larger than a chunk and a range is read chunk by chunk.
 */
export const blobChunks = pgTable(
	'blob_chunks',
	{
		key: text('key').notNull(),
		index: integer('index').notNull(),
		data: bytea('data').notNull()
	},
	(t) => [primaryKey({ columns: [t.key, t.index] })]
);

/** Either of two users blocking the other stops sends, typing and presence between them. */
export const blocks = pgTable(
	'blocks',
	{
		blockerId: uuid('blocker_id')
			.notNull()
			.references(() => users.id, { onDelete: 'cascade' }),
		blockedId: uuid('blocked_id')
			.notNull()
			.references(() => users.id, { onDelete: 'cascade' }),
		createdAt: tstz('created_at').notNull().defaultNow()
	},
	(t) => [primaryKey({ columns: [t.blockerId, t.blockedId] }), index('blocks_blocked_idx').on(t.blockedId)]
);

/** Single-use registration codes (REGISTRATION=invite); only SHA-256 of the code is stored. */
export const invites = pgTable('invites', {
	codeHash: bytea('code_hash').primaryKey(),
	/** Null when made by the operator's admin command. */
	createdBy: uuid('created_by').references(() => users.id, { onDelete: 'cascade' }),
	createdAt: tstz('created_at').notNull().defaultNow(),
	expiresAt: tstz('expires_at').notNull(),
	usedBy: uuid('used_by').references(() => users.id, { onDelete: 'set null' }),
	usedAt: tstz('used_at')
});

/** One-time password reset tokens printed by the admin command; only SHA-256 of the token is stored. */
export const passwordResets = pgTable('password_resets', {
	tokenHash: bytea('token_hash').primaryKey(),
	userId: uuid('user_id')
		.notNull()
		.references(() => users.id, { onDelete: 'cascade' }),
	createdAt: tstz('created_at').notNull().defaultNow(),
	expiresAt: tstz('expires_at').notNull()
});
