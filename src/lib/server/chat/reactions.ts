/**
 * Reactions as the wire shows them, read for a whole set of messages in one query: every place a
 * message leaves the server (history, lastMessage, replay, search, a change's answer) goes through
 * `withReactions`, so none of them shows a message without its reactions (or its attachments).
 */
import { asc, inArray } from 'drizzle-orm';
import type { Message, Reaction } from '$lib/types';
import type { Executor } from '../db';
import { reactions } from '../db/schema';
import { loadAttachments } from '../attachments/views';
import { toMessage, type MessageRow } from './views';

export interface ReactionRow {
	messageId: string;
	emoji: string;
	userId: string;
	version: number;
}

/**
 * Rows ordered by version (each change bumps the message's version under its row lock, so that is
 * commit order) grouped per message and emoji: an emoji first seen earlier comes first, and its
 * users are in the order they chose it.
 */
export function groupReactions(rows: ReactionRow[]): Map<string, Reaction[]> {
	const sorted = [...rows].sort((a, b) => a.version - b.version);
	const byMessage = new Map<string, Map<string, string[]>>();
	for (const row of sorted) {
		let emojis = byMessage.get(row.messageId);
		if (!emojis) byMessage.set(row.messageId, (emojis = new Map()));
		let userIds = emojis.get(row.emoji);
		if (!userIds) emojis.set(row.emoji, (userIds = []));
		userIds.push(row.userId);
	}
	return new Map([...byMessage].map(([id, emojis]) => [id, [...emojis].map(([emoji, userIds]) => ({ emoji, userIds }))]));
}

/** The reactions of each of `messageIds` (messages without any are absent from the map). */
export async function loadReactions(db: Executor, messageIds: string[]): Promise<Map<string, Reaction[]>> {
	const ids = [...new Set(messageIds)];
	if (ids.length === 0) return new Map();
	const rows = await db
		.select({ messageId: reactions.messageId, emoji: reactions.emoji, userId: reactions.userId, version: reactions.version })
		.from(reactions)
		.where(inArray(reactions.messageId, ids))
		.orderBy(asc(reactions.version));
	return groupReactions(rows);
}

/**
 * Rows as wire messages, with their reactions and attachments (attachments/views.ts), in the order
 * given; a deleted message has neither.
 */
export async function withReactions(db: Executor, rows: MessageRow[]): Promise<Message[]> {
	const live = rows.filter((r) => !r.deletedAt).map((r) => r.id);
	const [reactionsById, attachmentsById] = await Promise.all([loadReactions(db, live), loadAttachments(db, live)]);
	return rows.map((row) => toMessage(row, reactionsById.get(row.id) ?? [], attachmentsById.get(row.id) ?? []));
}
