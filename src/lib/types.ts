/** Wire types of PROTOCOL.md, shared by the server, the browser client and the tests. */

export interface User {
	id: string;
	username: string;
}

export interface Message {
	id: string;
	conversationId: string;
	seq: number;
	senderId: string;
	clientId: string;
	clientSeq: number;
	body: string;
	createdAt: string;
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
}

export interface Ack {
	id: string;
	conversationId: string;
	seq: number;
	createdAt: string;
}

export interface MessageEvent {
	type: 'message';
	cursor: string;
	message: Message;
}

export interface ReceiptEvent {
	type: 'receipt';
	cursor: string;
	conversationId: string;
	userId: string;
	deliveredSeq: number;
	readSeq: number;
}

export interface ConversationEvent {
	type: 'conversation';
	cursor: string;
	conversation: Conversation;
}

export type DurableEvent = MessageEvent | ReceiptEvent | ConversationEvent;

export interface TypingEvent {
	type: 'typing';
	conversationId: string;
	userId: string;
}

export interface PresenceEvent {
	type: 'presence';
	userId: string;
	online: boolean;
	lastSeenAt: string | null;
}

export interface ResetEvent {
	type: 'reset';
	cursor: string;
}

/** Sent once when a push stream opens, so a client can tell a live stream from a silent proxy. */
export interface ReadyEvent {
	type: 'ready';
	cursor: string;
	user: User;
}

export type EphemeralEvent = TypingEvent | PresenceEvent;
export type PushEvent = DurableEvent | EphemeralEvent | ResetEvent | ReadyEvent;

export type ServerFrame =
	| PushEvent
	| ({ type: 'ack' } & Ack)
	| { type: 'pong' }
	| { type: 'error'; code: string; message: string; id?: string; retryAfter?: number };
