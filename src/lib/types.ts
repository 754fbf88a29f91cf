/** Wire types of the protocol (docs/protocol.md), shared by the server, the browser client and the tests. */
import type { ErrorCode } from './protocol';

export interface User {
	id: string;
	username: string;
	/** Set on a conversation's peer whose account was deleted: show "Deleted account", no composer. */
	deleted?: boolean;
}

/** A single-use registration code (REGISTRATION=invite) and the link that carries it. */
export interface Invite {
	code: string;
	expiresAt: string;
	url: string;
}

/** One emoji on a message and who chose it, in the order they chose it. */
export interface Reaction {
	emoji: string;
	userIds: string[];
}

/** A file sent with a message (PROTOCOL.md "Attachments"). */
export interface Attachment {
	id: string;
	name: string;
	type: string;
	size: number;
	width: number | null;
	height: number | null;
	url: string;
	thumbnailUrl: string | null;
}

/**
 * A link's preview as the server fetched it (GET /api/previews, and a message's `preview`). Texts are
 * trimmed and capped; `imageUrl` is the server's proxy, never the linked site's own address.
 */
export interface LinkPreview {
	/** The link as previewed: the WHATWG serialisation, without its fragment. */
	url: string;
	title: string | null;
	description: string | null;
	siteName: string | null;
	/** `/api/previews/image?url=…` when the page names an image, else null. */
	imageUrl: string | null;
}

export interface Message {
	id: string;
	conversationId: string;
	seq: number;
	senderId: string;
	clientId: string;
	clientSeq: number;
	/** "" once deleted. */
	body: string;
	createdAt: string;
	/** A message of the same conversation this one answers, or null. */
	replyTo: string | null;
	editedAt: string | null;
	/** Set when the sender deleted it for everyone: body, reactions and attachments are then empty. */
	deletedAt: string | null;
	/** One entry per emoji chosen by at least one member, in the order each emoji was first chosen. */
	reactions: Reaction[];
	attachments: Attachment[];
	/**
	 * The preview of the body's first link (an addition): null as sent, set by a later
	 * `message_updated` once the server fetched it; null again when an edit changes the link or on delete.
	 */
	preview: LinkPreview | null;
	/**
	 * 0 as sent, +1 for every change that changed something (an addition to the protocol): of two
	 * copies of a message the higher version is the newer, whichever way each arrived.
	 */
	version: number;
}

/** What a change (PATCH/DELETE /api/messages/:id, reactions) did: the message as it now is. */
export interface Changed {
	message: Message;
}

export interface Conversation {
	id: string;
	peer: User;
	lastSeq: number;
	lastMessage: Message | null;
	unreadCount: number;
	myReadSeq: number;
	peerDeliveredSeq: number;
	peerReadSeq: number;
	/**
	 * The caller's own choice: no push, no system notification, not in the badge. The server always
	 * sends it and `blocked`; they are optional because rows cached in Dexie before them lack them.
	 */
	muted?: boolean;
	/** Whether the caller blocks the peer (never whether the peer blocks the caller). */
	blocked?: boolean;
	/**
	 * False when either person turned read receipts off (an addition): `peerReadSeq` is then 0 and
	 * the client shows delivered at most, replacing what it showed before.
	 */
	readReceipts?: boolean;
}

export interface Ack {
	id: string;
	conversationId: string;
	seq: number;
	createdAt: string;
}

/** Durable events: in the user's log, each with a cursor, replayed exactly once on resume. */
export interface DurableEvents {
	message: { cursor: string; message: Message };
	/** An edit, delete or reaction: the whole message as it now is. */
	message_updated: { cursor: string; message: Message };
	receipt: { cursor: string; conversationId: string; userId: string; deliveredSeq: number; readSeq: number };
	conversation: { cursor: string; conversation: Conversation };
}

/** Ephemeral events: no cursor, never replayed. */
export interface EphemeralEvents {
	typing: { conversationId: string; userId: string };
	/** The user cleared what they were typing (a message ends typing by itself). */
	typing_stopped: { conversationId: string; userId: string };
	presence: { userId: string; online: boolean; lastSeenAt: string | null };
}

/** Events about the stream itself rather than the user's data. */
export interface StreamEvents {
	/** The cursor asked for cannot be served: refetch over HTTP and go on from this one. */
	reset: { cursor: string };
	/** Sent once when a push stream opens, so a client can tell a live stream from a silent proxy. */
	ready: { cursor: string; user: User };
}

/**
 * Every push event, keyed by its `type`. Adding one is a line in one of the maps above (and in
 * protocol.ts's EVENT_KINDS, which the compiler demands); both transports then carry it.
 */
export interface Events extends DurableEvents, EphemeralEvents, StreamEvents {}

export type EventType = keyof Events;

type Tagged<M> = { [K in keyof M]: { type: K } & M[K] }[keyof M];

export type DurableEvent = Tagged<DurableEvents>;
export type EphemeralEvent = Tagged<EphemeralEvents>;
export type PushEvent = Tagged<Events>;

export type ServerFrame =
	| PushEvent
	| ({ type: 'ack' } & Ack)
	/** The answer to a `change` frame; `id` echoes the frame's id. */
	| { type: 'changed'; id: string; message: Message }
	| { type: 'pong' }
	| { type: 'error'; code: ErrorCode; message: string; id?: string; retryAfter?: number };

/** One of the caller's sessions in `GET /api/sessions` (docs/protocol.md "Password and sessions"). */
export interface SessionInfo {
	/** Opaque and stable per session; not the cookie's lookup id. */
	id: string;
	current: boolean;
	createdAt: string;
	/** Roughly: renewed at most once an hour. */
	lastActiveAt: string;
	userAgent: string | null;
	/** The User-Agent in plain words ("Chrome on Windows"). */
	device: string;
	/** The address last seen, coarsened ("203.0.113.x"); null when unknown. */
	location: string | null;
}

/** `GET/PATCH /api/me/settings`. */
export interface Settings {
	readReceipts: boolean;
}
