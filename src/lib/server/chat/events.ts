/**
 * The per-user event log: appending durable events inside the writer's transaction (cursor =
 * the user's own counter, bumped under its row lock, so each user's events commit in cursor order)
 * and reading them back after a cursor for replay.
 */
import { and, asc, eq, gt, min, sql } from 'drizzle-orm';
import type { Conversation, DurableEvent, Message } from '$lib/types';
import type { Executor, Tx } from '../db';
import { messages, userEvents, users, type EventType } from '../db/schema';
import { readReceiptSettings, receiptFor, type ReceiptData } from './read-privacy';
import { withReactions } from './reactions';
import { conversationViews } from './views';

export interface NewEvent {
	type: EventType;
	conversationId: string;
	messageId?: string;
	data?: { userId: string; deliveredSeq: number; readSeq: number };
}

export interface Appended {
	userId: string;
	seq: number;
}

/**
 * Appends `event` to the log of each recipient. Locks recipients in id order so that two
 * transactions touching the same users can never deadlock.
 */
export async function appendEvent(tx: Tx, recipients: string[], event: NewEvent): Promise<Appended[]> {
	const sorted = [...new Set(recipients)].sort();
	const appended: Appended[] = [];
	for (const userId of sorted) {
		const [row] = await tx
			.update(users)
			.set({ eventSeq: sql`${users.eventSeq} + 1` })
			.where(eq(users.id, userId))
			.returning({ seq: users.eventSeq });
		appended.push({ userId, seq: row.seq });
	}
	await tx.insert(userEvents).values(
		appended.map(({ userId, seq }) => ({
			userId,
			seq,
			type: event.type,
			conversationId: event.conversationId,
			messageId: event.messageId ?? null,
			data: event.data ?? null
		}))
	);
	return appended;
}

/** The user's latest committed cursor: where a stream without a cursor starts. */
export async function currentCursor(db: Executor, userId: string): Promise<number> {
	const [row] = await db.select({ seq: users.eventSeq }).from(users).where(eq(users.id, userId));
	return row?.seq ?? 0;
}

/**
 * Whether a stream can resume after `requested` (≤ the current cursor): the events after it must all
 * still be in the log. Cursors are gapless per user, so that is when the oldest kept event is at most
 * one past it, or, with nothing kept, when nothing came after it. Retention (retention.ts) prunes
 * the log from the oldest end; a cursor from before that gets `reset`.
 */
export async function canResumeAfter(db: Executor, userId: string, requested: number, current: number): Promise<boolean> {
	if (requested >= current) return true;
	const [row] = await db
		.select({ oldest: min(userEvents.seq) })
		.from(userEvents)
		.where(eq(userEvents.userId, userId));
	return row?.oldest != null && Number(row.oldest) <= requested + 1;
}

export interface EventBatch {
	events: DurableEvent[];
	/** Cursor of the last row read (even one that rendered to nothing), or undefined if none. */
	lastSeq: number | undefined;
	/** Rows read; fewer than the limit means the log is exhausted. */
	rowCount: number;
}

/** Up to `limit` events after `after`, rendered for the wire, in cursor order. */
export async function readEvents(db: Executor, userId: string, after: number, limit: number): Promise<EventBatch> {
	const rows = await db
		.select({ event: userEvents, message: messages })
		.from(userEvents)
		.leftJoin(messages, eq(messages.id, userEvents.messageId))
		.where(and(eq(userEvents.userId, userId), gt(userEvents.seq, after)))
		.orderBy(asc(userEvents.seq))
		.limit(limit);
	const conversationIds = [...new Set(rows.filter((r) => r.event.type === 'conversation').map((r) => r.event.conversationId))];
	const views = conversationIds.length ? await conversationViews(db, userId, conversationIds) : [];
	const viewById = new Map(views.map((v) => [v.id, v]));
	const messageRows = [...new Map(rows.flatMap((r) => (r.message ? [[r.message.id, r.message] as const] : []))).values()];
	const shownById = new Map((await withReactions(db, messageRows)).map((m) => [m.id, m]));
	// Receipts replay under today's settings, so a log written before a toggle cannot leak read state.
	const readers = rows.flatMap((r) =>
		r.event.type === 'receipt' && r.event.data && r.event.data.userId !== userId ? [r.event.data.userId] : []
	);
	const settings = readers.length ? await readReceiptSettings(db, [userId, ...readers]) : new Map<string, boolean>();
	const out: DurableEvent[] = [];
	for (const row of rows) {
		const rendered = render(row, viewById, shownById, (data) => receiptFor(userId, data, settings));
		if (rendered) out.push(rendered);
	}
	return { events: out, lastSeq: rows.at(-1)?.event.seq, rowCount: rows.length };
}

type LogRow = { event: typeof userEvents.$inferSelect; message: typeof messages.$inferSelect | null };

/**
 * A logged event as the wire carries it, or null when what it points at is gone. Every event type
 * needs a case (the default does not compile otherwise): a type delivered live but not rendered
 * here would be skipped on replay while the cursor moves past it.
 */
function render(
	{ event, message }: LogRow,
	viewById: Map<string, Conversation>,
	shownById: Map<string, Message>,
	shownReceipt: (data: ReceiptData) => ReceiptData
): DurableEvent | null {
	const cursor = String(event.seq);
	const type = event.type;
	switch (type) {
		// Both render the message as it is now: a replayed `message` already shows later changes,
		// and its `message_updated` events then repeat that state (same version), which clients ignore.
		case 'message':
		case 'message_updated':
			return message ? { type, cursor, message: shownById.get(message.id)! } : null;
		case 'receipt':
			return event.data ? { type, cursor, conversationId: event.conversationId, ...shownReceipt(event.data) } : null;
		case 'conversation': {
			const conversation = viewById.get(event.conversationId);
			return conversation ? { type, cursor, conversation } : null;
		}
		default:
			throw new Error(`No rendering for logged event type ${type satisfies never}`);
	}
}
