/**
 * The consistency checker run after every fault: what the server stored must be exactly what
 * the clients were promised. For each conversation: seq gapless 1..N, no duplicate id, every
 * stored message one that the client it is attributed to tried to send (nothing invented or
 * misattributed), every acked id stored once with the acked seq, each client's sends in clientSeq
 * order, and each client's local view (if given) equal to the server's.
 */
import { expect } from 'vitest';
import type { ApiClient } from './harness';

export interface ClientRecord {
	/** The clientId every one of this client's sends carried. */
	clientId: string;
	/** id → the seq the server acked. */
	acked: Map<string, number>;
	/** Every id the client ever tried to send (acked or not). */
	attempted: Set<string>;
	/** What the client believes the conversation holds: seq → id (after it synced). */
	view?: Map<number, string>;
}

export async function fetchAll(client: ApiClient, conversationId: string) {
	const all: any[] = [];
	let after = 0;
	for (;;) {
		const res = await client.get(`/api/conversations/${conversationId}/messages?after=${after}&limit=200`);
		expect(res.status).toBe(200);
		all.push(...res.body.messages);
		if (!res.body.hasMore) return all;
		after = all.at(-1).seq;
	}
}

export async function checkConversation(reader: ApiClient, conversationId: string, records: ClientRecord[]) {
	return checkStored(await fetchAll(reader, conversationId), records);
}

/**
 * The checks on a conversation's stored messages, apart from fetching them. `records` must cover
 * every client that sent to the conversation: a message no record accounts for is an invention.
 */
export function checkStored(stored: any[], records: ClientRecord[]) {
	expect(
		stored.map((m) => m.seq),
		'seq is gapless 1..N'
	).toEqual(stored.map((_, i) => i + 1));
	const ids = stored.map((m) => m.id);
	expect(new Set(ids).size, 'no duplicate ids').toBe(ids.length);
	const recordOf = new Map(records.map((r) => [r.clientId, r]));
	const senderOf = new Map<string, string>();
	for (const m of stored) {
		expect(recordOf.get(m.clientId)?.attempted.has(m.id), `stored ${m.id} was sent by client ${m.clientId}`).toBe(true);
		// One install belongs to one user: a second sender under a clientId means a misattribution.
		if (!senderOf.has(m.clientId)) senderOf.set(m.clientId, m.senderId);
		expect(m.senderId, `client ${m.clientId} sends as one user`).toBe(senderOf.get(m.clientId));
	}
	const byId = new Map(stored.map((m) => [m.id, m]));
	for (const record of records) {
		for (const [id, seq] of record.acked) {
			expect(byId.get(id)?.seq, `acked ${id} is stored with its acked seq`).toBe(seq);
		}
		if (record.view) {
			expect([...record.view.entries()].sort((a, b) => a[0] - b[0])).toEqual(stored.map((m) => [m.seq, m.id]));
		}
	}
	// Per client, seq order follows clientSeq order.
	const byClient = new Map<string, number[]>();
	for (const m of stored) byClient.set(m.clientId, [...(byClient.get(m.clientId) ?? []), m.clientSeq]);
	return { stored, byClient };
}

// ---------------------------------------------------------------------------------------------
// Message changes (issue 16): what the stream and the store show of edits and reactions must be
// exactly what the changes that were made (and acknowledged) account for.
// ---------------------------------------------------------------------------------------------

export interface ChangeRecord {
	/** Who made the change. */
	userId: string;
	change: { op: 'edit' | 'delete' | 'react' | 'unreact'; messageId: string; body?: string; emoji?: string };
	/** The message the server answered with (HTTP 200 or a `changed` frame); undefined if never acknowledged. */
	acked?: any;
}

/** Each message's `message_updated` events in a stream, in stream order. */
export function updatesByMessage(events: any[]): Map<string, any[]> {
	const byMessage = new Map<string, any[]>();
	for (const event of events) {
		if (event.type !== 'message_updated') continue;
		byMessage.set(event.message.id, [...(byMessage.get(event.message.id) ?? []), event.message]);
	}
	return byMessage;
}

/** Whether `message` shows what `change` did. */
export function changeHolds(message: any, { userId, change }: Pick<ChangeRecord, 'userId' | 'change'>): boolean {
	const reacted = () => message.reactions.some((r: any) => r.emoji === change.emoji && r.userIds.includes(userId));
	switch (change.op) {
		case 'edit':
			return message.deletedAt === null && message.body === change.body;
		case 'delete':
			return message.deletedAt !== null;
		case 'react':
			return reacted();
		case 'unreact':
			return !reacted();
	}
}

/** Within one stream, each message's versions rise strictly: none twice, none out of order. */
export function checkVersionsRise(events: any[], where = 'stream') {
	for (const [id, updates] of updatesByMessage(events)) {
		const versions = updates.map((m) => m.version);
		const rising = versions.every((v, i) => i === 0 || v > versions[i - 1]);
		expect(rising, `${where}: versions of ${id} rise strictly, each once: ${versions}`).toBe(true);
	}
}

const STABLE = ['id', 'conversationId', 'seq', 'senderId', 'clientId', 'clientSeq', 'createdAt', 'replyTo'] as const;
const pairsOf = (message: any) => message.reactions.flatMap((r: any) => r.userIds.map((u: string) => `${r.emoji} ${u}`)) as string[];

/**
 * One step from `prev` to `next` (the next version) is exactly one effective change that was
 * attempted: a body some client tried to set, by the sender; a delete by the sender; or one
 * reaction added or removed by a member who tried that. Returns the edit's body, if an edit.
 */
function explainStep(prev: any, next: any, changes: ChangeRecord[]): string | undefined {
	const where = `${next.id} v${prev.version}→v${next.version}`;
	for (const field of STABLE) expect(next[field], `${where}: ${field} never changes`).toEqual(prev[field]);
	const tried = (op: string, match: (c: ChangeRecord) => boolean) =>
		changes.some((c) => c.change.messageId === next.id && c.change.op === op && match(c));
	if (next.deletedAt !== null && prev.deletedAt === null) {
		expect(
			tried('delete', (c) => c.userId === next.senderId),
			`${where}: a delete by the sender`
		).toBe(true);
		expect([next.body, next.reactions, next.attachments], `${where}: a deleted message is empty`).toEqual(['', [], []]);
		return undefined;
	}
	expect(next.deletedAt, `${where}: deletedAt`).toEqual(prev.deletedAt);
	if (next.body !== prev.body) {
		expect(
			tried('edit', (c) => c.userId === next.senderId && c.change.body === next.body),
			`${where}: an edit by the sender to ${next.body}`
		).toBe(true);
		expect(next.editedAt, `${where}: an edit sets editedAt`).not.toBeNull();
		expect(next.reactions, `${where}: an edit keeps the reactions`).toEqual(prev.reactions);
		return next.body;
	}
	expect(next.editedAt, `${where}: editedAt changes only with the body`).toEqual(prev.editedAt);
	const before = new Set(pairsOf(prev));
	const after = new Set(pairsOf(next));
	const added = [...after].filter((p) => !before.has(p));
	const removed = [...before].filter((p) => !after.has(p));
	expect([...added, ...removed], `${where}: a version is one effective change`).toHaveLength(1);
	const [emoji, userId] = (added[0] ?? removed[0]).split(' ');
	expect(
		tried(added.length ? 'react' : 'unreact', (c) => c.userId === userId && c.change.emoji === emoji),
		`${where}: ${added.length ? 'react' : 'unreact'} ${emoji} by ${userId} was attempted`
	).toBe(true);
	return undefined;
}

/**
 * The checks after a fault, on every member's stream replayed from the start of the log:
 * - per message, the `message_updated` versions are exactly 1..final (each effective change once,
 *   none twice, none lost), the same in every member's stream, the last one equal to `finals`;
 * - every step between versions is one attempted change (nothing invented, no no-op event), and
 *   `originals` (version 0, where known) leads to the first;
 * - every acknowledged change's answer is the stream's message at that version (so it committed,
 *   was not lost, and showed its effect); where the final state no longer shows it, the steps after
 *   it are later committed changes that superseded it, each itself accounted for above;
 * - every body an edit tried is set at most once, and each acknowledged edit's body exactly once.
 */
export function checkChanges({
	streams,
	finals,
	originals = new Map(),
	changes
}: {
	streams: any[][];
	finals: Map<string, any>;
	originals?: Map<string, any>;
	changes: ChangeRecord[];
}) {
	const perStream = streams.map(updatesByMessage);
	for (const [id, final] of finals) {
		const updates = perStream[0].get(id) ?? [];
		expect(
			updates.map((m) => m.version),
			`${id}: versions 1..${final.version}, each once`
		).toEqual(Array.from({ length: final.version }, (_, i) => i + 1));
		if (updates.length) expect(updates.at(-1), `${id}: the final state is the last event`).toEqual(final);
		perStream.forEach((other, i) => expect(other.get(id) ?? [], `${id}: member ${i} was shown the same`).toEqual(updates));
		const original = originals.get(id);
		if (original) expect(original.version).toBe(0);
		const steps = original ? [original, ...updates] : updates;
		const edits = new Map<string, number>();
		for (let i = 1; i < steps.length; i++) {
			const body = explainStep(steps[i - 1], steps[i], changes);
			if (body !== undefined) edits.set(body, (edits.get(body) ?? 0) + 1);
		}
		for (const record of changes.filter((c) => c.change.messageId === id)) {
			const { change, acked } = record;
			if (change.op === 'edit') {
				expect(edits.get(change.body!) ?? 0, `${id}: edit to ${change.body} took effect at most once`).toBeLessThanOrEqual(1);
				if (acked) expect(edits.get(change.body!), `${id}: acked edit to ${change.body} is in the stream once`).toBe(1);
			}
			if (!acked) continue;
			expect(acked.id).toBe(id);
			expect(changeHolds(acked, record), `${id}: the answer to ${JSON.stringify(change)} shows it`).toBe(true);
			expect(acked.version, `${id}: an answer is never ahead of the final state`).toBeLessThanOrEqual(final.version);
			const at = acked.version === 0 ? original : updates[acked.version - 1];
			if (at) expect(acked, `${id}: the answer to ${JSON.stringify(change)} is the message at v${acked.version}`).toEqual(at);
		}
	}
}
