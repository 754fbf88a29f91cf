/**
 * The chat service: every rule of the chat in one transport-agnostic place. Membership,
 * get-or-create of 1:1 conversations, idempotent ordered sends (through the sequence buffer),
 * cumulative receipts, typing and presence. WebSocket frames, SSE and POST routes all call this.
 */
import { sha256 } from '@oslojs/crypto/sha2';
import { and, asc, eq, inArray, isNull, like, max, ne, sql } from 'drizzle-orm';
import { AppError } from '$lib/errors';
import type { MessageChange, SendInput, ReceiptInput, SettingsPatch } from '$lib/schemas';
import type { Ack, Conversation, DurableEvent, EphemeralEvent, LinkPreview, Message, Settings, User } from '$lib/types';
import { resyncNote, type EventBus, type Note } from '../bus';
import type { Config } from '../config';
import type { Db } from '../db';
import type { BatchWriter } from '../db/batch';
import { attachments, conversations, members, messages, users } from '../db/schema';
import { metrics, secondsSince } from '../metrics';
import { RefillingTokenBucket } from '../rate-limit';
import { appendEvent, type Appended } from './events';
import * as blocking from './blocks';
import { lockedReadReceiptSettings, receiptFor, receiptRecipients } from './read-privacy';
import { NO_SUCH_MESSAGE, linkToPreview } from './change';
import { GroupCommit, type BatchSend, type Published } from './group-commit';
import { sameContent } from './message-columns';
import { ConversationMembers } from './members';
import { withReactions } from './reactions';
import { SequenceBuffer } from './sequence-buffer';
import { conversationViews, historyPage, toAck, type HistoryQuery, type MessageRow } from './views';
import { log } from '../log';

export interface SendCommand extends SendInput {
	senderId: string;
}

/** A send as group commit takes it: a form send has no clientSeq until it commits. */
type Send = Omit<SendCommand, 'clientSeq'> & { clientSeq: number | null };

/** Items per batch, and sends per run of one client: a run joins one batch whole. */
const MAX_BATCH = 256;
/** Body characters per run of one client (see SequenceBuffer's maxRunBytes). */
const MAX_RUN_BYTES = 64 * 1024;

const NOT_FOUND = () => new AppError('not_found', 'There is no such conversation.');
const UNAVAILABLE = () => new AppError('unavailable', 'The service is briefly unavailable; try again in a moment.');

export class ChatService {
	readonly buffer: SequenceBuffer<SendCommand>;
	private readonly group: GroupCommit<Send>;
	private readonly sendLimiter: RefillingTokenBucket<string>;
	private readonly members: ConversationMembers;
	private readonly online = new Map<string, number>();
	/** When each sender's typing in a conversation was last forwarded, until a message or a stop ends it. */
	private readonly lastTyping = new Map<string, number>();
	/** Each sender's latest send in a conversation until it is answered: typing after it waits for it. */
	private readonly sending = new Map<string, Promise<void>>();
	/** Previews being fetched and added, awaited by flush (each fetch has the guard's deadline). */
	private readonly attaching = new Set<Promise<void>>();

	constructor(
		private readonly db: Db,
		writer: BatchWriter,
		readonly bus: EventBus,
		private readonly config: Config,
		/** Deletes the blobs of attachments whose rows a commit deleted (their message was deleted). */
		private readonly discard: (attachmentIds: string[]) => Promise<void> = async () => {},
		/**
		 * The preview of a message's link for its sender, null when there is none to show (busy, over
		 * their limit, unfetchable); undefined: previews are off.
		 */
		private readonly previewFor?: (senderId: string, url: string) => Promise<LinkPreview | null>
	) {
		this.members = new ConversationMembers(db);
		this.sendLimiter = new RefillingTokenBucket(config.sendBurst, 60_000 / config.sendPerMinute);
		this.buffer = new SequenceBuffer<SendCommand>({
			gapTimeoutMs: config.gapTimeoutMs,
			maxHeldPerKey: 256,
			maxHeldTotal: 10_000,
			nextExpected: (conversationId, clientId) => this.nextClientSeq(this.db, conversationId, clientId),
			maxRun: MAX_BATCH,
			// 100 sends of 4 KB in one run ran past the 1 s statement deadline on a loaded 2-core host
			// (backpressure.test.ts); 64 KiB keeps a run's write to tens of milliseconds there.
			maxRunBytes: MAX_RUN_BYTES,
			sizeOf: (send) => send.body.length,
			commit: (sends) => this.group.submitRun(sends).map((committed) => committed.then((c) => c.ack))
		});
		this.group = new GroupCommit<Send>(writer, this.members, {
			// Two batches in flight hold disjoint rows (see GroupCommit.takeBatch), so one's commit
			// overlaps the other's statements; a client's sends stay in clientSeq order because the
			// buffer hands over one run at a time per client. Measured: 2 saturates about 30% higher
			// than 1, and 3 lower than 2 (more batches wait for their rows than overlap).
			maxInFlight: 2,
			maxBatch: MAX_BATCH,
			resend: (existing, send) => this.ackForResend(existing, send.senderId, send),
			published: (events) => {
				for (const event of events) {
					this.publishMessage(event);
					// Committed: a blob left behind by a failure here is unreachable (its row is gone), never served.
					if (event.discarded) this.discard(event.discarded).catch((error) => log.error({ err: error }, 'Deleting attachments failed'));
					if (event.type === 'message' || event.previousBody !== undefined) this.attachPreview(event.message, event.previousBody ?? null);
				}
			},
			uncertain: (userIds) => this.publish(userIds.map(resyncNote))
		});
		bus.onPresenceGone?.((userId) =>
			this.presenceGone(userId).catch((error) => log.error({ err: error, user: userId }, 'Presence failed'))
		);
	}

	// ── users and conversations ────────────────────────────────────────────────────────────────

	async searchUsers(userId: string, prefix: string): Promise<User[]> {
		const cleaned = prefix.trim().toLowerCase();
		// No username contains anything else, and PostgreSQL text cannot even hold NUL.
		if (!/^[a-z0-9_]{0,32}$/.test(cleaned)) return [];
		const pattern = cleaned.replace(/[\\%_]/g, (c) => `\\${c}`) + '%';
		return this.db
			.select({ id: users.id, username: users.username })
			.from(users)
			.where(and(like(users.username, pattern), ne(users.id, userId), isNull(users.deletedAt)))
			.orderBy(users.username)
			.limit(20);
	}

	async openConversation(userId: string, username: string): Promise<Conversation> {
		const [peer] = await this.db
			.select({ id: users.id })
			.from(users)
			.where(and(eq(users.username, username), isNull(users.deletedAt)))
			.limit(1);
		if (!peer) throw new AppError('not_found', `There is no user called "${username}".`);
		if (peer.id === userId) throw new AppError('bad_request', 'You cannot start a conversation with yourself.');
		const pairKey = [userId, peer.id].sort().join(':');
		const created = await this.db.transaction(async (tx) => {
			const id = crypto.randomUUID();
			const inserted = await tx
				.insert(conversations)
				.values({ id, pairKey })
				.onConflictDoNothing({ target: conversations.pairKey })
				.returning({ id: conversations.id });
			if (inserted.length === 0) return null;
			await tx.insert(members).values([
				{ conversationId: id, userId },
				{ conversationId: id, userId: peer.id }
			]);
			return { id, appended: await appendEvent(tx, [userId, peer.id], { type: 'conversation', conversationId: id }) };
		});
		if (created) {
			this.publish(created.appended.map(({ userId: u, seq }) => ({ kind: 'event', userId: u, seq })));
			await this.introduce(userId, peer.id);
			return this.getConversation(userId, created.id);
		}
		const [existing] = await this.db.select({ id: conversations.id }).from(conversations).where(eq(conversations.pairKey, pairKey));
		return this.getConversation(userId, existing.id);
	}

	listConversations(userId: string): Promise<Conversation[]> {
		return conversationViews(this.db, userId);
	}

	async getConversation(userId: string, conversationId: string): Promise<Conversation> {
		const [view] = await conversationViews(this.db, userId, [conversationId]);
		if (!view) throw NOT_FOUND();
		return view;
	}

	async history(userId: string, conversationId: string, query: HistoryQuery) {
		await this.requireMember(userId, conversationId);
		return historyPage(this.db, conversationId, query);
	}

	/** Throws not_found unless `userId` belongs to the conversation (never reveals that it exists). */
	async requireMember(userId: string, conversationId: string): Promise<void> {
		if (!(await this.members.of(conversationId)).includes(userId)) throw NOT_FOUND();
	}

	/** The user's peers, for presence (neither blocking the other); empty if the user is in none. */
	async peersOf(userId: string): Promise<{ id: string; lastSeenAt: Date | null }[]> {
		const mine = this.db.select({ id: members.conversationId }).from(members).where(eq(members.userId, userId));
		const peers = await this.db
			.selectDistinct({ id: users.id, lastSeenAt: users.lastSeenAt })
			.from(members)
			.innerJoin(users, eq(users.id, members.userId))
			.where(and(sql`${members.conversationId} in ${mine}`, ne(members.userId, userId)));
		const blocked = await blocking.blockedAmong(
			this.db,
			userId,
			peers.map((p) => p.id)
		);
		return peers.filter((p) => !blocked.has(p.id));
	}

	// ── blocking and muting ────────────────────────────────────────────────────────────────────

	listBlocks(userId: string): Promise<User[]> {
		return blocking.blockedBy(this.db, userId);
	}

	/** Idempotent. From the commit on, neither sees the other online or typing; only the blocker's devices are told. */
	async block(userId: string, username: string): Promise<void> {
		const change = await blocking.block(this.db, userId, username);
		if (!change.changed) return;
		this.publishConversation(change.appended, change.conversationId);
		const { peerId, conversationId } = change;
		const gone = (who: string, to: string): Note[] => [
			{ kind: 'ephemeral', userId: to, event: { type: 'presence', userId: who, online: false, lastSeenAt: null } },
			...(conversationId
				? [{ kind: 'ephemeral' as const, userId: to, event: { type: 'typing_stopped' as const, conversationId, userId: who } }]
				: [])
		];
		this.publish([...gone(peerId, userId), ...gone(userId, peerId)]);
	}

	/** Idempotent; unknown ids change nothing. Presence flows again unless the other still blocks. */
	async unblock(userId: string, blockedId: string): Promise<void> {
		const change = await blocking.unblock(this.db, userId, blockedId);
		if (!change.changed) return;
		this.publishConversation(change.appended, change.conversationId);
		if (change.conversationId) await this.introduce(userId, blockedId);
	}

	/** The caller's own mute of a conversation; their other devices refetch it. */
	async setMuted(userId: string, conversationId: string, muted: boolean): Promise<Conversation> {
		const appended = await blocking.setMuted(this.db, userId, conversationId, muted);
		if (!appended) throw NOT_FOUND();
		this.publishConversation(appended, conversationId);
		return this.getConversation(userId, conversationId);
	}

	/** The event carries no view: each stream renders the conversation as its reader sees it now. */
	private publishConversation(appended: Appended[], conversationId: string | null) {
		if (conversationId) this.publish(appended.map(({ userId, seq }) => ({ kind: 'event', userId, seq })));
	}

	// ── messages ───────────────────────────────────────────────────────────────────────────────

	/** Sends a message; resolves with the ack once it is durable, in clientSeq order for its client. */
	send(senderId: string, input: SendInput): Promise<Ack> {
		const key = typingKey(input.conversationId, senderId);
		// The message ends the typing that led to it, so typing again right after is news at once.
		this.lastTyping.delete(key);
		const startedAt = performance.now();
		const ack = this.accept(senderId, input);
		const settled = ack.then(
			() => recordSend(startedAt, 'ok'),
			(error) => recordSend(startedAt, error instanceof AppError ? error.code : 'internal')
		);
		this.sending.set(key, settled);
		void settled.then(() => {
			if (this.sending.get(key) === settled) this.sending.delete(key);
		});
		return ack;
	}

	private async accept(senderId: string, input: SendInput): Promise<Ack> {
		// A send past everything this client has committed here is new: the commit itself still
		// answers an id that turns out to be stored, so only possible resends pay for a lookup first.
		if (!this.buffer.isAhead(input.conversationId, input.clientId, input.clientSeq)) {
			const existing = await this.findMessage(input.id);
			if (existing) return this.ackForResend(existing, senderId, input, await this.attachmentIdsOf(existing));
		}
		await this.requireMember(senderId, input.conversationId);
		this.rateLimitSend(senderId);
		// While the database is known to be away, a send held behind a gap would wait for the
		// missing one's resend only to fail then: answer it now, and the client resends it too.
		if (!this.group.reachable) throw UNAVAILABLE();
		return this.buffer.submit({ ...input, senderId });
	}

	/**
	 * A send from the no-JavaScript form: the server stands in for the client, with one clientId per
	 * session and the next clientSeq taken at commit time. The form's id keeps a resubmit idempotent.
	 */
	async sendFromForm(user: { id: string }, sessionId: string, form: { id: string; conversationId: string; body: string }): Promise<Ack> {
		const input = { ...form, replyTo: null, attachments: [] };
		const existing = await this.findMessage(input.id);
		const clientId = formClientId(sessionId);
		if (existing) return this.ackForResend(existing, user.id, input, await this.attachmentIdsOf(existing));
		await this.requireMember(user.id, input.conversationId);
		this.rateLimitSend(user.id);
		return (await this.group.submit({ ...input, senderId: user.id, clientId, clientSeq: null })).ack;
	}

	/** A stored message as a member sees it now (not a member, or no such id: not_found). */
	async getMessage(userId: string, messageId: string): Promise<Message> {
		const row = await this.memberMessage(userId, messageId);
		const [message] = await withReactions(this.db, [row]);
		return message;
	}

	/**
	 * Edits, deletes or reacts to a stored message, for either transport. Decided and written by
	 * group commit under the message's locks (its rules are in change.ts); resolves with the message
	 * as that commit left it, after which every member's stream gets it as `message_updated`.
	 */
	async change(userId: string, change: MessageChange): Promise<Message> {
		const row = await this.memberMessage(userId, change.messageId);
		this.rateLimitSend(userId);
		if (!this.group.reachable) throw UNAVAILABLE();
		return (await this.group.change({ ...change, userId, conversationId: row.conversationId })).message;
	}

	/** The row of a message of one of the user's conversations; anything else is not found (never reveal which). */
	private async memberMessage(userId: string, messageId: string): Promise<MessageRow> {
		const row = await this.findMessage(messageId);
		if (!row || !(await this.members.of(row.conversationId)).includes(userId)) throw NO_SUCH_MESSAGE();
		return row;
	}

	/**
	 * Fetches the preview of a just committed message's link (a new message's, or an edit's that
	 * changed it) and adds it as a change of its own, so the ack never waits for a fetch and both
	 * members get it as a `message_updated`. Runs on the instance that committed; whatever fails
	 * (the page, the limit, the database) leaves the message without a preview, and is only logged.
	 */
	private attachPreview(message: Message, previousBody: string | null) {
		const previewFor = this.previewFor;
		if (!previewFor) return;
		const { id: messageId, conversationId, senderId, body } = message;
		// After the batch's acks are written: finding the link parses the body (markdown-it).
		const attached = new Promise((resolve) => setImmediate(resolve))
			.then(async () => {
				const link = linkToPreview(previousBody, body);
				const preview = link && (await previewFor(senderId, link));
				// An edit meanwhile has the last word: the change is refused under the lock if it moved on.
				if (preview) await this.group.change({ op: 'preview', messageId, preview, userId: senderId, conversationId });
			})
			.catch((error) => log.error({ err: error, messageId }, `Adding the link preview of message ${messageId} failed`))
			.finally(() => this.attaching.delete(attached));
		this.attaching.add(attached);
	}

	private rateLimitSend(userId: string) {
		if (!this.config.rateLimit) return;
		const wait = this.sendLimiter.consume(userId);
		if (wait > 0) {
			throw new AppError('rate_limited', `You are sending too fast; wait ${wait} seconds.`, { retryAfter: wait });
		}
	}

	private async findMessage(id: string): Promise<MessageRow | undefined> {
		const [row] = await this.db.select().from(messages).where(eq(messages.id, id)).limit(1);
		return row;
	}

	/**
	 * The ack of a stored message for a send of its id, or 409 when the send says something else.
	 * `storedAttachments`: the message's attachment ids, when the caller has not compared them
	 * (group commit does, under their locks); a deleted message has lost them, so they are not compared.
	 */
	private ackForResend(
		existing: MessageRow,
		senderId: string,
		input: Omit<BatchSend, 'senderId' | 'clientId' | 'clientSeq'>,
		storedAttachments?: string[]
	): Ack {
		const named = (input.attachments ?? []).map((id) => id.toLowerCase());
		const sameFiles =
			!storedAttachments ||
			existing.deletedAt !== null ||
			(named.length === storedAttachments.length && named.every((id, i) => id === storedAttachments[i]));
		if (!sameFiles || !sameContent(existing, { ...input, senderId })) {
			throw new AppError('conflict', 'This message id is already used by a different message.');
		}
		return toAck(existing);
	}

	private async attachmentIdsOf(message: MessageRow): Promise<string[]> {
		const rows = await this.db
			.select({ id: attachments.id })
			.from(attachments)
			.where(eq(attachments.messageId, message.id))
			.orderBy(asc(attachments.position));
		return rows.map((r) => r.id);
	}

	private async nextClientSeq(db: Db, conversationId: string, clientId: string): Promise<number> {
		const [row] = await db
			.select({ last: max(messages.clientSeq) })
			.from(messages)
			.where(and(eq(messages.conversationId, conversationId), eq(messages.clientId, clientId)));
		return (row?.last ?? 0) + 1;
	}

	private publishMessage({ type, message, appended }: Published) {
		this.publish(appended.map(({ userId, seq }) => ({ kind: 'event', userId, seq, event: { type, cursor: String(seq), message } })));
	}

	// ── receipts, typing, presence ─────────────────────────────────────────────────────────────

	/** Cumulative, monotonic receipts; read implies delivered. Returns false when nothing moved. */
	async receipt(userId: string, input: ReceiptInput): Promise<boolean> {
		await this.requireMember(userId, input.conversationId);
		const result = await this.db.transaction(async (tx) => {
			const [conversation] = await tx
				.select({ lastSeq: conversations.lastSeq })
				.from(conversations)
				.where(eq(conversations.id, input.conversationId))
				.for('update');
			if (!conversation) throw NOT_FOUND();
			const rows = await tx.select().from(members).where(eq(members.conversationId, input.conversationId));
			const mine = rows.find((r) => r.userId === userId);
			if (!mine) throw NOT_FOUND();
			const target = Math.min(input.seq, conversation.lastSeq);
			const readSeq = input.status === 'read' ? Math.max(mine.readSeq, target) : mine.readSeq;
			const deliveredSeq = Math.max(mine.deliveredSeq, target, readSeq);
			if (readSeq === mine.readSeq && deliveredSeq === mine.deliveredSeq) return null;
			await tx
				.update(members)
				.set({ readSeq, deliveredSeq })
				.where(and(eq(members.conversationId, input.conversationId), eq(members.userId, userId)));
			const data = { userId, deliveredSeq, readSeq };
			const people = rows.map((r) => r.userId);
			const settings = await lockedReadReceiptSettings(tx, people);
			const before = { userId, deliveredSeq: mine.deliveredSeq, readSeq: mine.readSeq };
			const recipients = receiptRecipients(people, before, data, settings);
			const appended = await appendEvent(tx, recipients, { type: 'receipt', conversationId: input.conversationId, data });
			return { data, appended, settings };
		});
		if (!result) return false;
		this.publish(
			result.appended.map(({ userId: recipient, seq }) => {
				const shown = receiptFor(recipient, result.data, result.settings);
				const event: DurableEvent = { type: 'receipt', cursor: String(seq), conversationId: input.conversationId, ...shown };
				return { kind: 'event', userId: recipient, seq, event };
			})
		);
		return true;
	}

	// ── settings ───────────────────────────────────────────────────────────────────────────────

	async settings(userId: string): Promise<Settings> {
		const [row] = await this.db.select({ readReceipts: users.readReceipts }).from(users).where(eq(users.id, userId));
		if (!row) throw new AppError('unauthorized', 'Sign in to continue.');
		return row;
	}

	/**
	 * Turning read receipts either way changes what both people of every conversation of the user
	 * see, so each of them gets a `conversation` event to apply it by, on every device.
	 */
	async updateSettings(userId: string, patch: SettingsPatch): Promise<Settings> {
		const peers = await this.peersOf(userId);
		const result = await this.db.transaction(async (tx) => {
			// Everyone whose log this appends to, locked up front in id order (as appendEvent locks
			// them), so that a receipt or send between the same people cannot deadlock with it.
			const locked = await lockedReadReceiptSettings(tx, [userId, ...peers.map((p) => p.id)]);
			const before = locked.get(userId);
			if (before === undefined) throw new AppError('unauthorized', 'Sign in to continue.');
			const settings: Settings = { readReceipts: patch.readReceipts ?? before };
			if (settings.readReceipts === before) return { settings, appended: [] };
			await tx.update(users).set({ readReceipts: settings.readReceipts }).where(eq(users.id, userId));
			const mine = tx.select({ id: members.conversationId }).from(members).where(eq(members.userId, userId));
			const rows = await tx
				.select({ conversationId: members.conversationId, userId: members.userId })
				.from(members)
				.where(sql`${members.conversationId} in ${mine}`);
			const byConversation = new Map<string, string[]>();
			for (const r of rows) byConversation.set(r.conversationId, [...(byConversation.get(r.conversationId) ?? []), r.userId]);
			const appended = [];
			for (const [conversationId, people] of byConversation) {
				appended.push(...(await appendEvent(tx, people, { type: 'conversation', conversationId })));
			}
			return { settings, appended };
		});
		this.publish(result.appended.map(({ userId: recipient, seq }) => ({ kind: 'event', userId: recipient, seq })));
		return result.settings;
	}

	async typing(userId: string, conversationId: string): Promise<void> {
		// Clients send typing on keystrokes; more than two a second per conversation adds nothing.
		// Counted as it arrives, before anything is awaited: a send that arrives after it restarts the limit.
		const key = typingKey(conversationId, userId);
		const now = Date.now();
		const due = now - (this.lastTyping.get(key) ?? 0) >= 500;
		if (due) this.lastTyping.set(key, now);
		if (this.lastTyping.size > 50_000) this.lastTyping.clear();
		const after = this.sending.get(key);
		await this.requireMember(userId, conversationId);
		if (due) await this.tellPeers(userId, conversationId, after, { type: 'typing', conversationId, userId });
	}

	/** The user cleared what they were typing. Only a typing still going is ended, so stops cannot be flooded. */
	async typingStopped(userId: string, conversationId: string): Promise<void> {
		const key = typingKey(conversationId, userId);
		const going = this.lastTyping.delete(key);
		const after = this.sending.get(key);
		await this.requireMember(userId, conversationId);
		if (going) await this.tellPeers(userId, conversationId, after, { type: 'typing_stopped', conversationId, userId });
	}

	/** `after`: the send that arrived before this note, still being committed; the note waits for its message. */
	private async tellPeers(userId: string, conversationId: string, after: Promise<void> | undefined, event: EphemeralEvent): Promise<void> {
		// Overtaking that message would have it end the typing that came after it.
		await after;
		const others = (await this.members.of(conversationId)).filter((id) => id !== userId);
		const blocked = await blocking.blockedAmong(this.db, userId, others);
		const peers = others.filter((id) => !blocked.has(id));
		this.publish(peers.map((peer) => ({ kind: 'ephemeral', userId: peer, event })));
	}

	/** Open push connections (WebSocket and SSE) of a user in this process. */
	connectionCount(userId: string): number {
		return this.online.get(userId) ?? 0;
	}

	/** Here or, with the PostgreSQL bus, on another instance. */
	isOnline(userId: string): boolean {
		return (this.online.get(userId) ?? 0) > 0 || (this.bus.onlineElsewhere?.(userId) ?? false);
	}

	/** Counts a user's open push connections; tells their peers when the first opens. */
	async connected(userId: string): Promise<void> {
		const count = (this.online.get(userId) ?? 0) + 1;
		this.online.set(userId, count);
		if (count === 1) this.bus.setLocalPresence?.(userId, true);
		if (count === 1) await this.announcePresence(userId, true, null);
	}

	/** Refuses a new push connection past MAX_CONNECTIONS_PER_USER. */
	checkConnectionLimit(userId: string): void {
		if (this.connectionCount(userId) >= this.config.maxConnectionsPerUser) {
			throw new AppError('rate_limited', 'Too many open connections for this account; close some tabs.', { retryAfter: 30 });
		}
	}

	/** Tells their peers when the last connection closes, with the time they were last seen. */
	async disconnected(userId: string): Promise<void> {
		const count = (this.online.get(userId) ?? 1) - 1;
		if (count > 0) {
			this.online.set(userId, count);
			return;
		}
		this.online.delete(userId);
		this.bus.setLocalPresence?.(userId, false, !this.isOnline(userId));
		const now = new Date();
		await this.db.update(users).set({ lastSeenAt: now }).where(eq(users.id, userId));
		if (!this.isOnline(userId)) await this.announcePresence(userId, false, now);
	}

	/** Another instance left the "offline" announcement to this one (see EventBus.onPresenceGone). */
	private async presenceGone(userId: string): Promise<void> {
		const [row] = await this.db.select({ lastSeenAt: users.lastSeenAt }).from(users).where(eq(users.id, userId));
		if (!this.isOnline(userId)) await this.announcePresence(userId, false, row?.lastSeenAt ?? new Date());
	}

	/**
	 * The members of a new conversation were not each other's peers when their connections opened
	 * (presence is sent then), so each learns the other's presence now. Best effort: the
	 * conversation is committed, and a reconnect sends presence anyway.
	 */
	private async introduce(a: string, b: string): Promise<void> {
		try {
			if (await blocking.blockedBetween(this.db, a, b)) return;
			const rows = await this.db
				.select({ id: users.id, lastSeenAt: users.lastSeenAt })
				.from(users)
				.where(inArray(users.id, [a, b]));
			this.publish(
				rows.map((row) => ({
					kind: 'ephemeral',
					userId: row.id === a ? b : a,
					event: { type: 'presence', userId: row.id, online: this.isOnline(row.id), lastSeenAt: row.lastSeenAt?.toISOString() ?? null }
				}))
			);
		} catch (error) {
			log.error({ err: error }, 'Presence for a new conversation failed');
		}
	}

	private async announcePresence(userId: string, online: boolean, lastSeenAt: Date | null) {
		const peers = await this.peersOf(userId);
		this.publish(
			peers.map((p) => ({
				kind: 'ephemeral',
				userId: p.id,
				event: { type: 'presence', userId, online, lastSeenAt: lastSeenAt?.toISOString() ?? null }
			}))
		);
	}

	/** Closes the open connections of ended sessions (logout, logout everywhere). */
	/**
	 * A change the server makes for a user (an account's deletion): the same write path as theirs,
	 * without the send rate, which is there to slow people, not the server's own clean-up.
	 */
	async changeFor(userId: string, conversationId: string, change: MessageChange): Promise<Message> {
		if (!this.group.reachable) throw UNAVAILABLE();
		return (await this.group.change({ ...change, userId, conversationId })).message;
	}

	revokeSessions(userId: string, sessionIds: string[] | 'all'): void {
		this.publish([{ kind: 'revoked', userId, sessionIds }]);
	}

	private publish(notes: Note[]) {
		if (notes.length) this.bus.publish(notes);
	}

	/** Commits whatever the sequence buffer holds, then lets the previews being added finish (graceful shutdown). */
	async flush(): Promise<void> {
		await this.buffer.flush();
		await Promise.all([...this.attaching]);
	}
}

function recordSend(startedAt: number, outcome: string) {
	metrics.sends.inc({ outcome });
	metrics.sendSeconds.observe(secondsSince(startedAt));
}

/** A stable UUID-shaped client id for one session's no-JavaScript sends. */
function formClientId(sessionId: string): string {
	const hex = Buffer.from(sha256(new TextEncoder().encode(`form:${sessionId}`))).toString('hex');
	return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

function typingKey(conversationId: string, userId: string): string {
	return `${conversationId}:${userId}`;
}
