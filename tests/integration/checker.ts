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
// Message changes (issue 16). The replay rule (PROTOCOL.md "Changing messages"): every logged event
// (`message` and `message_updated`) is rendered from the message as it is when the event is read,
// so a replay of a message changed 15 times carries version 15 fifteen times, and a live stream
// that reads the log again (after an uncertain commit, a bus re-LISTEN, a resume) carries the
// state of that moment. What is provable, and checked:
// - any stream, live or replayed: per message, versions never fall, and none is newer than the
//   final state (an event at the final version is the final state);
// - a member's whole log (a stream from cursor 0, read to its head) carries each message once as
//   `message` and exactly `version` times as `message_updated` (one event per effective change:
//   none lost, none doubled, none for a repeat), and ends on the final state: exactly once, by count;
// - the answers (HTTP 200, `changed` frames), which are rendered under the message's lock and so
//   are the message at their version: each shows its change, none is ahead of the final state, two
//   at one version are equal (one at the final version is the final state), and a step between two
//   consecutive versions is one attempted change;
// - the final state is explained by attempted changes (nothing invented), and holds every
//   acknowledged change that no other attempted change could have undone after it. The order of
//   concurrent, unacknowledged commits is not asserted: any order is allowed.
// ---------------------------------------------------------------------------------------------

export interface ChangeRecord {
	/** Who made the change. */
	userId: string;
	change: { op: 'edit' | 'delete' | 'react' | 'unreact'; messageId: string; body?: string; emoji?: string };
	/** The message the server answered with (HTTP 200 or a `changed` frame); undefined if never acknowledged. */
	acked?: any;
	/** performance.now() when it was first sent; unset: as early as anything (nothing is known to precede it). */
	sentAt?: number;
	/**
	 * performance.now() once nothing of it can commit any more: its answer arrived, or the server it
	 * went to was killed (and has exited). Unset while it may still commit, at any later moment.
	 */
	settledAt?: number;
}

/** Each message's `message_updated` events in a stream, in stream order. */
export function updatesByMessage(events: any[]): Map<string, any[]> {
	return byMessage(events, ['message_updated']);
}

/** Each message as every event that carries it (`message` and `message_updated`) shows it, in stream order. */
export function eventsByMessage(events: any[]): Map<string, any[]> {
	return byMessage(events, ['message', 'message_updated']);
}

function byMessage(events: any[], types: string[]): Map<string, any[]> {
	const out = new Map<string, any[]>();
	for (const event of events) {
		if (!types.includes(event.type)) continue;
		out.set(event.message.id, [...(out.get(event.message.id) ?? []), event.message]);
	}
	return out;
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

/**
 * Any stream, live or replayed, complete or not: per message, the versions of the events carrying
 * it never fall; and, for the messages of `finals`, none is newer than the final state, and one at
 * the final version is exactly the final state (a read of the log can show a message as it is
 * mid-way, but never a version that did not commit, nor the final version other than it is).
 */
export function checkStreamVersions(events: any[], finals: Map<string, any>, where = 'stream') {
	for (const [id, shown] of eventsByMessage(events)) {
		const versions = shown.map((m) => m.version);
		const rising = versions.every((v, i) => i === 0 || v >= versions[i - 1]);
		expect(rising, `${where}: versions of ${id} never fall: ${versions}`).toBe(true);
		const final = finals.get(id);
		if (!final) continue;
		expect(Math.max(...versions), `${where}: ${id} is never newer than its final state`).toBeLessThanOrEqual(final.version);
		for (const m of shown.filter((m) => m.version === final.version)) {
			expect(m, `${where}: ${id} at its final version v${final.version} is the final state`).toEqual(final);
		}
	}
}

/**
 * A member's whole log: `events` must be a stream from cursor 0 read up to the log's head (see
 * Replay.complete). Besides checkStreamVersions: no event twice, and for every message of
 * `finals` exactly one `message` event and exactly `version` `message_updated` events, the last
 * event carrying it the final state.
 */
export function checkWholeLog(events: any[], finals: Map<string, any>, where = 'log') {
	const cursors = events.map((e) => Number(e.cursor));
	expect(
		cursors.every((c, i) => i === 0 || c > cursors[i - 1]),
		`${where}: cursors rise, no event twice`
	).toBe(true);
	checkStreamVersions(events, finals, where);
	const sent = byMessage(events, ['message']);
	const updates = updatesByMessage(events);
	const shown = eventsByMessage(events);
	for (const [id, final] of finals) {
		expect(sent.get(id)?.length ?? 0, `${where}: ${id} is sent once`).toBe(1);
		expect(updates.get(id)?.length ?? 0, `${where}: ${id} has one message_updated per effective change (v${final.version})`).toBe(
			final.version
		);
		expect(shown.get(id)?.at(-1), `${where}: the last event of ${id} is its final state`).toEqual(final);
	}
}

const STABLE = ['id', 'conversationId', 'seq', 'senderId', 'clientId', 'clientSeq', 'createdAt', 'replyTo'] as const;
const pairsOf = (message: any) => message.reactions.flatMap((r: any) => r.userIds.map((u: string) => `${r.emoji} ${u}`)) as string[];
const tried = (changes: ChangeRecord[], id: string, op: string, match: (c: ChangeRecord) => boolean) =>
	changes.some((c) => c.change.messageId === id && c.change.op === op && match(c));

/**
 * One step from `prev` to `next` (the next version) is exactly one effective change that was
 * attempted: a body some client tried to set, by the sender; a delete by the sender; or one
 * reaction added or removed by a member who tried that.
 */
function explainStep(prev: any, next: any, changes: ChangeRecord[]) {
	const where = `${next.id} v${prev.version}→v${next.version}`;
	for (const field of STABLE) expect(next[field], `${where}: ${field} never changes`).toEqual(prev[field]);
	if (next.deletedAt !== null && prev.deletedAt === null) {
		expect(
			tried(changes, next.id, 'delete', (c) => c.userId === next.senderId),
			`${where}: a delete by the sender`
		).toBe(true);
		expect([next.body, next.reactions, next.attachments], `${where}: a deleted message is empty`).toEqual(['', [], []]);
		return;
	}
	expect(next.deletedAt, `${where}: deletedAt`).toEqual(prev.deletedAt);
	if (next.body !== prev.body) {
		expect(
			tried(changes, next.id, 'edit', (c) => c.userId === next.senderId && c.change.body === next.body),
			`${where}: an edit by the sender to ${next.body}`
		).toBe(true);
		expect(next.editedAt, `${where}: an edit sets editedAt`).not.toBeNull();
		expect(next.reactions, `${where}: an edit keeps the reactions`).toEqual(prev.reactions);
		return;
	}
	expect(next.editedAt, `${where}: editedAt changes only with the body`).toEqual(prev.editedAt);
	const before = new Set(pairsOf(prev));
	const after = new Set(pairsOf(next));
	const added = [...after].filter((p) => !before.has(p));
	const removed = [...before].filter((p) => !after.has(p));
	expect([...added, ...removed], `${where}: a version is one effective change`).toHaveLength(1);
	const [emoji, userId] = (added[0] ?? removed[0]).split(' ');
	expect(
		tried(changes, next.id, added.length ? 'react' : 'unreact', (c) => c.userId === userId && c.change.emoji === emoji),
		`${where}: ${added.length ? 'react' : 'unreact'} ${emoji} by ${userId} was attempted`
	).toBe(true);
}

/** The final state against the original: every difference is something an attempted change does. */
function explainFinal(original: any, final: any, changes: ChangeRecord[]) {
	const where = `${final.id} final v${final.version}`;
	for (const field of STABLE) expect(final[field], `${where}: ${field} never changes`).toEqual(original[field]);
	if (final.deletedAt !== null) {
		expect(
			tried(changes, final.id, 'delete', (c) => c.userId === final.senderId),
			`${where}: deleted by the sender`
		).toBe(true);
		expect([final.body, final.reactions, final.attachments], `${where}: a deleted message is empty`).toEqual(['', [], []]);
		return;
	}
	if (final.body !== original.body) expect(final.editedAt, `${where}: an edited body has editedAt`).not.toBeNull();
	if (final.editedAt !== null) {
		expect(
			tried(changes, final.id, 'edit', (c) => c.userId === final.senderId && c.change.body === final.body),
			`${where}: its body ${final.body} is an edit by the sender`
		).toBe(true);
	}
	for (const pair of pairsOf(final)) {
		const [emoji, userId] = pair.split(' ');
		expect(
			tried(changes, final.id, 'react', (c) => c.userId === userId && c.change.emoji === emoji),
			`${where}: ${emoji} by ${userId} was attempted`
		).toBe(true);
	}
}

/**
 * Whether `other` may have undone `record` after `record` took effect: it is a change that would
 * (a delete; another body; the opposite reaction by the same member) and it is not known to have
 * committed before `record` did: it settled only after `record` was sent, and no answer puts it at
 * a version below `record`'s answer.
 */
function mayUndo(other: ChangeRecord, record: ChangeRecord): boolean {
	const [a, b] = [other.change, record.change];
	if (other === record || a.messageId !== b.messageId) return false;
	const undoes =
		a.op === 'delete' ||
		(b.op === 'edit' && a.op === 'edit' && a.body !== b.body) ||
		((b.op === 'react' || b.op === 'unreact') &&
			(a.op === 'react' || a.op === 'unreact') &&
			a.op !== b.op &&
			a.emoji === b.emoji &&
			other.userId === record.userId);
	if (!undoes) return false;
	if ((other.settledAt ?? Infinity) < (record.sentAt ?? -Infinity)) return false;
	return !(other.acked && other.acked.version < record.acked.version);
}

/**
 * The answers and the final states (`finals`: GET /api/messages/:id after the fault, one per
 * message changed) against `changes`, every change attempted on those messages (acknowledged or
 * not); `originals` are the messages as sent (version 0), where known. The streams are checked by
 * checkStreamVersions and checkWholeLog.
 */
export function checkChanges({
	finals,
	originals = new Map(),
	changes
}: {
	finals: Map<string, any>;
	originals?: Map<string, any>;
	changes: ChangeRecord[];
}): { held: number; excused: number } {
	const counts = { held: 0, excused: 0 };
	for (const [id, final] of finals) {
		const original = originals.get(id);
		const records = changes.filter((c) => c.change.messageId === id);
		// The message at each version that something showed as it is: the original, the answers, the final state.
		const at = new Map<number, any>();
		const known = (message: any, what: string) => {
			const seen = at.get(message.version);
			if (seen) expect(message, `${id}: ${what} is the message at v${message.version}`).toEqual(seen);
			else at.set(message.version, message);
		};
		if (original) {
			expect(original.version).toBe(0);
			known(original, 'the original');
		}
		known(final, 'the final state');
		for (const record of records) {
			const { change, acked } = record;
			if (!acked) continue;
			const what = `the answer to ${JSON.stringify(change)}`;
			expect(acked.id).toBe(id);
			expect(changeHolds(acked, record), `${id}: ${what} shows it`).toBe(true);
			expect(acked.version, `${id}: ${what} is never ahead of the final state`).toBeLessThanOrEqual(final.version);
			known(acked, what);
		}
		const versions = [...at.keys()].sort((a, b) => a - b);
		for (const [i, v] of versions.entries()) {
			if (i > 0 && versions[i - 1] === v - 1) explainStep(at.get(v - 1), at.get(v), changes);
		}
		if (original) explainFinal(original, final, changes);
		for (const record of records) {
			if (!record.acked) continue;
			if (records.some((other) => mayUndo(other, record))) {
				counts.excused++;
				continue;
			}
			counts.held++;
			expect(
				changeHolds(final, record),
				`${id}: acknowledged ${JSON.stringify(record.change)} by ${record.userId} (v${record.acked.version}), which nothing attempted could undo, holds in the final state`
			).toBe(true);
		}
	}
	return counts;
}
