/**
 * What one change does to a stored message, decided under the message's locks from the row as it
 * is then: pure, so every rule of PROTOCOL.md "Changing messages" is here and nowhere else.
 */
import { AppError } from '$lib/errors';
import type { MessageChange } from '$lib/schemas';
import type { LinkPreview } from '$lib/types';
import { firstUrl } from '../previews/first-url';
import { previewKey } from '../previews/store';
import type { ReactionRow } from './reactions';
import type { MessageRow } from './views';

/** A message and its reaction rows, as one batch sees them after its earlier changes. */
export interface MessageState {
	row: MessageRow;
	reactions: ReactionRow[];
}

/**
 * The preview fetched for a message's link: the server's own change, made after the send (or the
 * edit) committed, never a client's. `userId` is then the sender's, so membership holds as for theirs.
 */
export interface PreviewChange {
	op: 'preview';
	messageId: string;
	preview: LinkPreview;
}

/** Every change group commit applies: a client's, or a preview the server fetched. */
export type StoredChange = MessageChange | PreviewChange;

/** The link of a body that gets a preview (its first http(s) link, as the cache keys it), or null. */
export function previewLink(body: string): string | null {
	const url = firstUrl(body);
	return url ? previewKey(url) : null;
}

/**
 * The link to fetch a preview for once a body is committed: a new message's (`before` null), or
 * an edit's that changed it. Null when there is none to fetch (no link, the same link).
 */
export function linkToPreview(before: string | null, after: string): string | null {
	const link = previewLink(after);
	return link && (before === null || previewLink(before) !== link) ? link : null;
}

// Field by field: jsonb gives keys back in its own order.
const PREVIEW_FIELDS = ['url', 'title', 'description', 'siteName', 'imageUrl'] as const satisfies readonly (keyof LinkPreview)[];
const samePreview = (a: LinkPreview, b: LinkPreview) => PREVIEW_FIELDS.every((key) => (a[key] ?? null) === (b[key] ?? null));

export const NO_SUCH_MESSAGE = () => new AppError('not_found', 'There is no such message.');

/**
 * The state after `change` by `userId`, or null when it changes nothing (a repeat, which is
 * answered with the message as it is and publishes nothing). Throws the protocol's error otherwise.
 * Membership is the caller's check: this only sees the message.
 */
export function applyChange(state: MessageState, change: StoredChange, userId: string, now: Date): MessageState | null {
	const { row, reactions } = state;
	const deleted = row.deletedAt !== null;
	if (change.op === 'preview') {
		// Fetched for what the body said then: an edit or delete since has the last word.
		if (deleted || previewLink(row.body) !== change.preview.url) return null;
		if (row.preview && samePreview(row.preview, change.preview)) return null;
		return { row: { ...row, preview: change.preview, version: row.version + 1 }, reactions };
	}
	if ((change.op === 'edit' || change.op === 'delete') && row.senderId !== userId) {
		throw new AppError('forbidden', 'Only the sender can change this message.');
	}
	if (change.op === 'delete') {
		if (deleted) return null;
		return { row: { ...row, body: '', deletedAt: now, preview: null, version: row.version + 1 }, reactions: [] };
	}
	if (deleted) throw new AppError('conflict', 'This message was deleted.');
	const version = row.version + 1;
	switch (change.op) {
		case 'edit':
			if (change.body === row.body) return null;
			// Another link (or none) makes the preview wrong: gone now, the new one fetched after.
			return {
				row: {
					...row,
					body: change.body,
					editedAt: now,
					version,
					preview: previewLink(change.body) === previewLink(row.body) ? row.preview : null
				},
				reactions
			};
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
			throw new Error(`No rule for the change ${(change satisfies never as StoredChange).op}`);
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
