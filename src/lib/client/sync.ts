/**
 * The sync engine: applies the server's frames to Dexie, one at a time and in order, and
 * persists the cursor in the same transaction as the change it stands for, so a crash between
 * the two can only replay an event (harmless: every write is idempotent), never skip one.
 * It also fills seq gaps at once, rebuilds on `reset`, and queues delivered receipts.
 */
import type { ErrorCode } from '$lib/protocol';
import type { Ack, Conversation, EphemeralEvent, Message, ServerFrame, User } from '$lib/types';
import type { Api } from './api';
import { mergeConversation } from './conversations';
import { storeServerCopy } from './changes';
import { ConversationRows } from './conversation-rows';
import { HISTORY_PAGE } from './history-page';
import { getMeta, META, type DuetDb } from './db';

export { HISTORY_PAGE };
/** Conversations whose recent history a rebuild fetches eagerly; the rest load when opened. */
const REBUILD_CONVERSATIONS = 20;

export interface SyncHooks {
	/** A peer message was stored: the leader owes the server a delivered receipt up to `seq`. */
	delivered(conversationId: string, seq: number): void;
	ephemeral(event: EphemeralEvent): void;
	ack(ack: Ack): Promise<void>;
	sendError(id: string, code: ErrorCode, message: string, retryAfter?: number): Promise<void>;
	/** The server's answer to one of our change frames. */
	changed(id: string, message: Message): Promise<void>;
	/** The stream is live (after any rebuild). */
	ready(): void;
}

interface Gap {
	conversationId: string;
	after: number;
	before: number;
}

export class SyncEngine {
	private queue: Promise<void> = Promise.resolve();

	constructor(
		private readonly db: DuetDb,
		private readonly api: Api,
		private readonly me: User,
		private readonly hooks: SyncHooks
	) {}

	/** Frames are applied strictly one after another, in arrival order. */
	handle(frame: ServerFrame): Promise<void> {
		this.queue = this.queue
			.then(() => this.apply(frame))
			.catch((error) => console.error('Could not apply a server event', frame.type, error));
		return this.queue;
	}

	cursor(): Promise<string | null> {
		return getMeta<string>(this.db, META.cursor).then((c) => c ?? null);
	}

	private async apply(frame: ServerFrame): Promise<void> {
		switch (frame.type) {
			case 'ready':
				if (!(await this.cursor()) || !(await getMeta(this.db, META.bootstrapped))) {
					try {
						await this.rebuild(frame.cursor);
					} catch (error) {
						// Sends must not wait on the first fetch: the open pages seed what they show,
						// and the next connection tries again (the bootstrapped flag is still unset).
						console.warn('Could not fetch conversations on connect', error);
					}
				}
				await this.owedDeliveredReceipts();
				this.hooks.ready();
				return;
			case 'reset':
				await this.rebuild(frame.cursor, { stale: true });
				return;
			case 'message': {
				const { gaps, unknown } = await this.storeMessages([frame.message], { cursor: frame.cursor, live: true });
				if (unknown) await this.refreshConversations();
				for (const gap of gaps) await this.fillGap(gap);
				return;
			}
			case 'message_updated': {
				const { unknown } = await this.storeMessages([frame.message], { cursor: frame.cursor });
				if (unknown) await this.refreshConversations();
				return;
			}
			case 'changed':
				await this.hooks.changed(frame.id, frame.message);
				return;
			case 'receipt':
				await this.db.transaction('rw', [this.db.conversations, this.db.messages, this.db.meta], async () => {
					const conv = await this.db.conversations.get(frame.conversationId);
					if (conv) {
						if (frame.userId === this.me.id) {
							const myReadSeq = Math.max(conv.myReadSeq, frame.readSeq);
							await this.db.conversations.put({
								...conv,
								myReadSeq,
								myDeliveredSeq: Math.max(conv.myDeliveredSeq, frame.deliveredSeq, frame.readSeq),
								unreadCount: myReadSeq > conv.myReadSeq ? await this.countUnread(conv.id, myReadSeq) : conv.unreadCount
							});
						} else {
							await this.db.conversations.put({
								...conv,
								peerDeliveredSeq: Math.max(conv.peerDeliveredSeq, frame.deliveredSeq, frame.readSeq),
								peerReadSeq: Math.max(conv.peerReadSeq, frame.readSeq)
							});
						}
					}
					await this.db.meta.put({ key: META.cursor, value: frame.cursor });
				});
				return;
			case 'conversation':
				await this.db.transaction('rw', [this.db.conversations, this.db.meta], async () => {
					await this.putConversation(frame.conversation);
					await this.db.meta.put({ key: META.cursor, value: frame.cursor });
				});
				return;
			case 'presence':
				await this.db.presence.put({ userId: frame.userId, online: frame.online, lastSeenAt: frame.lastSeenAt });
				this.hooks.ephemeral(frame);
				return;
			case 'typing':
			case 'typing_stopped':
				this.hooks.ephemeral(frame);
				return;
			case 'ack': {
				const { type: _type, ...ack } = frame;
				await this.hooks.ack(ack);
				return;
			}
			case 'error':
				if (frame.id) await this.hooks.sendError(frame.id, frame.code, frame.message, frame.retryAfter);
				else console.warn('Server error frame:', frame.code, frame.message);
				return;
			default:
				// Transports swallow pongs; any other frame left here is an event type added without its handling.
				frame satisfies { type: 'pong' };
		}
	}

	/**
	 * Stores messages (from the stream or from a page of history). Returns the seq gaps a live
	 * message revealed and whether a conversation was unknown here.
	 */
	async storeMessages(messages: Message[], options: { cursor?: string; live?: boolean } = {}) {
		const gaps: Gap[] = [];
		let unknown = false;
		const delivered = new Map<string, number>();
		const tables = [this.db.messages, this.db.conversations, this.db.outbox, this.db.changes, this.db.meta];
		await this.db.transaction('rw', tables, async () => {
			const conversations = new ConversationRows(this.db);
			for (const message of messages) {
				await storeServerCopy(this.db, message, conversations);
				const conv = await conversations.get(message.conversationId);
				if (!conv) {
					unknown = true;
					continue;
				}
				const fromPeer = message.senderId !== this.me.id;
				const isNew = message.seq > conv.lastSeq;
				if (options.live && message.seq > conv.lastSeq + 1) {
					gaps.push({ conversationId: conv.id, after: conv.lastSeq, before: message.seq });
				}
				if (isNew) {
					await conversations.put({
						...conv,
						lastSeq: message.seq,
						lastMessage: message,
						activity: message.createdAt,
						unreadCount: conv.unreadCount + (fromPeer && message.seq > conv.myReadSeq ? 1 : 0)
					});
				}
				if (fromPeer && message.seq > conv.myDeliveredSeq) {
					delivered.set(conv.id, Math.max(delivered.get(conv.id) ?? 0, message.seq));
				}
			}
			if (options.cursor) await this.db.meta.put({ key: META.cursor, value: options.cursor });
		});
		for (const [conversationId, seq] of delivered) this.hooks.delivered(conversationId, seq);
		return { gaps, unknown };
	}

	/** Fetches the messages strictly between two seqs, right away, page by page. */
	private async fillGap(gap: Gap): Promise<void> {
		let after = gap.after;
		for (;;) {
			const page = await this.api.history(gap.conversationId, { after, before: gap.before, limit: 200 });
			if (page.messages.length === 0) break;
			await this.storeMessages(page.messages);
			after = page.messages[page.messages.length - 1].seq;
			if (!page.hasMore) break;
		}
		const conv = await this.db.conversations.get(gap.conversationId);
		if (conv) await this.db.conversations.update(conv.id, { unreadCount: await this.countUnread(conv.id, conv.myReadSeq) });
	}

	/** Makes sure Dexie holds the newest page of a conversation, e.g. when it is opened. */
	async ensureRecent(conversationId: string): Promise<void> {
		const conv = await this.db.conversations.get(conversationId);
		const newest = await this.newestSeq(conversationId);
		if (conv && newest >= conv.lastSeq && newest > 0) return;
		if (newest > 0 && conv && conv.lastSeq - newest <= 200) {
			await this.fillGap({ conversationId, after: newest, before: conv.lastSeq + 1 });
			return;
		}
		const page = await this.api.history(conversationId, { limit: HISTORY_PAGE });
		if (!conv) await this.refreshConversations();
		await this.storeMessages(page.messages);
	}

	/** One page older than `beforeSeq`, from the server; false when there is nothing older. */
	async loadOlder(conversationId: string, beforeSeq: number, limit = HISTORY_PAGE): Promise<boolean> {
		if (beforeSeq <= 1) return false;
		const page = await this.api.history(conversationId, { before: beforeSeq, limit });
		await this.storeMessages(page.messages);
		return page.hasMore;
	}

	async refreshConversations(): Promise<void> {
		const { conversations } = await this.api.conversations();
		await this.db.transaction('rw', this.db.conversations, async () => {
			for (const conversation of conversations) await this.putConversation(conversation);
		});
	}

	/**
	 * After `reset` (or on first start): the server's conversations replace ours, recent history
	 * is fetched again, and nothing in the outbox is touched. After a reset the events missed may
	 * have edited or deleted any message held here, so held messages go (`stale`) and load again
	 * as they are shown.
	 */
	private async rebuild(cursor: string, options: { stale?: boolean } = {}): Promise<void> {
		const { conversations } = await this.api.conversations();
		const pages = await mapLimit(conversations.slice(0, REBUILD_CONVERSATIONS), 4, (c) =>
			c.lastSeq > 0 ? this.api.history(c.id, { limit: HISTORY_PAGE }) : Promise.resolve({ messages: [], hasMore: false })
		);
		const keep = new Set(conversations.map((c) => c.id));
		await this.db.transaction('rw', [this.db.conversations, this.db.messages, this.db.outbox, this.db.meta], async () => {
			const pending = new Set(await this.db.outbox.toCollection().primaryKeys());
			const held = await this.db.conversations.toCollection().primaryKeys();
			const gone = held.filter((id) => !keep.has(id));
			await this.db.conversations.bulkDelete(gone);
			if (options.stale) {
				await this.db.messages.filter((m) => !pending.has(m.id)).delete();
			} else if (gone.length) {
				await this.db.messages
					.where('conversationId')
					.anyOf(gone)
					.filter((m) => !pending.has(m.id))
					.delete();
			}
			for (const conversation of conversations) {
				const existing = await this.db.conversations.get(conversation.id);
				// The server's snapshot is the truth now, except that our own clock is kept for sorting.
				const merged = mergeConversation(undefined, conversation);
				await this.db.conversations.put(
					existing ? { ...merged, activity: conversation.lastMessage?.createdAt ?? existing.activity } : merged
				);
			}
			await this.db.meta.put({ key: META.cursor, value: cursor });
			await this.db.meta.put({ key: META.bootstrapped, value: 1 });
		});
		for (const page of pages) await this.storeMessages(page.messages);
	}

	/** Delivered receipts that may never have reached the server (sent on a connection that died). */
	private async owedDeliveredReceipts(): Promise<void> {
		const conversations = await this.db.conversations.toArray();
		for (const conv of conversations) {
			if (conv.lastSeq > conv.myDeliveredSeq && conv.lastMessage && conv.lastMessage.senderId !== this.me.id) {
				this.hooks.delivered(conv.id, conv.lastSeq);
			}
		}
	}

	private async putConversation(conversation: Conversation): Promise<void> {
		const existing = await this.db.conversations.get(conversation.id);
		await this.db.conversations.put(mergeConversation(existing, conversation));
	}

	private async newestSeq(conversationId: string): Promise<number> {
		const last = await this.db.messages.where('[conversationId+seq]').between([conversationId, 0], [conversationId, Infinity]).last();
		return last?.seq ?? 0;
	}

	private countUnread(conversationId: string, readSeq: number): Promise<number> {
		return this.db.messages
			.where('[conversationId+seq]')
			.between([conversationId, readSeq], [conversationId, Infinity], false, true)
			.filter((m) => m.senderId !== this.me.id)
			.count();
	}
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
	const results: R[] = new Array(items.length);
	let next = 0;
	const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
		while (next < items.length) {
			const index = next++;
			results[index] = await fn(items[index]);
		}
	});
	await Promise.all(workers);
	return results;
}
