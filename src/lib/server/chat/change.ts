/**
 * What one change does to a stored message, decided under the message's locks from the row as it
 * is then: pure, so every rule of PROTOCOL.md "Changing messages" is here and nowhere else.
 */
import { AppError } from '$lib/errors';
import type { MessageChange } from '$lib/schemas';
import type { ReactionRow } from './reactions';
import type { MessageRow } from './views';

/** A message and its reaction rows, as one batch sees them after its earlier changes. */
export interface MessageState {
	row: MessageRow;
	reactions: ReactionRow[];
}

export const NO_SUCH_MESSAGE = () => new AppError('not_found', 'There is no such message.');

/**
 * The state after `change` by `userId`, or null when it changes nothing (a repeat, which is
 * answered with the message as it is and publishes nothing). Throws the protocol's error otherwise.
 * Membership is the caller's check: this only sees the message.
 */
export function applyChange(state: MessageState, change: MessageChange, userId: string, now: Date): MessageState | null {
	const { row, reactions } = state;
	const deleted = row.deletedAt !== null;
	if ((change.op === 'edit' || change.op === 'delete') && row.senderId !== userId) {
		throw new AppError('forbidden', 'Only the sender can change this message.');
	}
	if (change.op === 'delete') {
		if (deleted) return null;
		return { row: { ...row, body: '', deletedAt: now, version: row.version + 1 }, reactions: [] };
	}
	if (deleted) throw new AppError('conflict', 'This message was deleted.');
	const version = row.version + 1;
	switch (change.op) {
		case 'edit':
			if (change.body === row.body) return null;
			return { row: { ...row, body: change.body, editedAt: now, version }, reactions };
		case 'react': {
			if (reactions.some((r) => r.emoji === change.emoji && r.userId === userId)) return null;
			return { row: { ...row, version }, reactions: [...reactions, { messageId: row.id, emoji: change.emoji, userId, version }] };
		}
		case 'unreact': {
			const kept = reactions.filter((r) => !(r.emoji === change.emoji && r.userId === userId));
			if (kept.length === reactions.length) return null;
			return { row: { ...row, version }, reactions: kept };
		}
		default:
			throw new Error(`No rule for the change ${(change satisfies never as MessageChange).op}`);
	}
}

/** The reaction rows to insert (or re-version) and to delete to get from `before` to `after`. */
export function reactionDiff(before: ReactionRow[], after: ReactionRow[]): { upserted: ReactionRow[]; removed: ReactionRow[] } {
	const key = (r: ReactionRow) => `${r.messageId}\u0000${r.emoji}\u0000${r.userId}`;
	const was = new Map(before.map((r) => [key(r), r]));
	const now = new Set(after.map(key));
	return {
		upserted: after.filter((r) => was.get(key(r))?.version !== r.version),
		removed: before.filter((r) => !now.has(key(r)))
	};
}
