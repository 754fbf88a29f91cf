/**
 * A message as the user should see it: the server's copy with this device's unanswered changes
 * applied on top, in the order they were made. Nothing here is stored, so a change that leaves
 * the queue (answered, refused or dismissed) stops showing by itself: that is the rollback.
 */
import type { LinkPreview, Reaction } from '$lib/types';
import type { LocalMessage, PendingChange } from './db';

export interface ShownChanges {
	/** Some change of this message is still waiting for the server. */
	changePending: boolean;
}

export function withPending<
	M extends Pick<LocalMessage, 'body' | 'editedAt' | 'deletedAt' | 'reactions'> & { preview?: LinkPreview | null }
>(message: M, changes: readonly PendingChange[], me: string, now: () => string = () => new Date().toISOString()): M & ShownChanges {
	let shown = { ...message, changePending: false };
	for (const { change, state } of changes) {
		if (state !== 'queued') continue;
		shown.changePending = true;
		switch (change.op) {
			case 'edit':
				if (!shown.deletedAt) {
					shown = { ...shown, body: change.body, editedAt: now() };
					if (shown.preview && !stillLinks(change.body, shown.preview.url)) shown = { ...shown, preview: null };
				}
				break;
			case 'delete':
				shown = { ...shown, body: '', deletedAt: shown.deletedAt ?? now(), reactions: [] };
				break;
			case 'react':
				if (!shown.deletedAt) shown = { ...shown, reactions: react(shown.reactions, change.emoji, me, true) };
				break;
			case 'unreact':
				shown = { ...shown, reactions: react(shown.reactions, change.emoji, me, false) };
				break;
			default:
				change satisfies never;
		}
	}
	return shown;
}

/**
 * Whether an edited body still names the previewed page. The server decides for sure (and sends
 * the card again when it stays); this only keeps a card of a link just edited away from showing.
 */
function stillLinks(body: string, url: string): boolean {
	return body.includes(url) || body.includes(url.replace(/\/$/, ''));
}

/** Adds or removes `userId`'s `emoji`, keeping the server's order (a new emoji goes last). */
export function react(reactions: readonly Reaction[], emoji: string, userId: string, add: boolean): Reaction[] {
	const out: Reaction[] = [];
	let found = false;
	for (const r of reactions) {
		if (r.emoji !== emoji) {
			out.push(r);
			continue;
		}
		found = true;
		const others = r.userIds.filter((id) => id !== userId);
		const userIds = add ? [...others, userId] : others;
		if (add && r.userIds.includes(userId)) out.push(r);
		else if (userIds.length) out.push({ emoji, userIds });
	}
	if (add && !found) out.push({ emoji, userIds: [userId] });
	return out;
}

/** Pending changes grouped by message, each group in write order. */
export function byMessage(changes: readonly PendingChange[]): Map<string, PendingChange[]> {
	const map = new Map<string, PendingChange[]>();
	for (const c of [...changes].sort((a, b) => a.order - b.order)) {
		const list = map.get(c.messageId);
		if (list) list.push(c);
		else map.set(c.messageId, [c]);
	}
	return map;
}
