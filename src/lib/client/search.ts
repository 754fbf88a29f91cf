/**
 * Message search: the server's full-text search, or, when it cannot be reached, the messages this
 * device holds (with the peer taken from the local conversation). Also how a result's body is
 * split for highlighting, matching the way the words were matched.
 */
import { foldAccents } from '$lib/search-words';
import type { Message, User } from '$lib/types';
import type { Api } from './api';
import type { DuetDb } from './db';
import { searchLocal } from './queries';

export type Hit = { message: Message; peer: User };

export async function searchMessages(
	client: { api: Pick<Api, 'search'>; db: DuetDb },
	q: string
): Promise<{ hits: Hit[]; offline: boolean }> {
	try {
		return { hits: (await client.api.search(q)).results, offline: false };
	} catch {
		const local = await searchLocal(client.db, q);
		const conversations = new Map((await client.db.conversations.toArray()).map((c) => [c.id, c.peer]));
		const hits = local.flatMap((m) => {
			const peer = conversations.get(m.conversationId);
			// Unconfirmed messages have no seq to open the conversation at.
			return peer && m.seq !== undefined ? [{ message: { ...m, seq: m.seq }, peer }] : [];
		});
		return { hits, offline: true };
	}
}

export { searchWords } from '$lib/search-words';

/**
 * Splits a body into plain and matching parts (matches are word prefixes, as in the search, and
 * found in the folded body: folding keeps every letter where it is, so the parts are the original's).
 */
export function highlightParts(body: string, words: readonly string[]): { text: string; hit: boolean }[] {
	if (words.length === 0) return [{ text: body, hit: false }];
	const escaped = words.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
	const re = new RegExp(`(?<![\\p{L}\\p{N}])(${escaped.join('|')})`, 'giu');
	const out: { text: string; hit: boolean }[] = [];
	let last = 0;
	for (const m of foldAccents(body).matchAll(re)) {
		const i = m.index ?? 0;
		if (i > last) out.push({ text: body.slice(last, i), hit: false });
		out.push({ text: body.slice(i, i + m[0].length), hit: true });
		last = i + m[0].length;
	}
	if (last < body.length) out.push({ text: body.slice(last), hit: false });
	return out;
}
