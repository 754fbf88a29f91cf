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
