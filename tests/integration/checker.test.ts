/**
 * The checker judges every fault test, so it must itself fail on what it claims to catch; these
 * cases feed it stored messages directly, without a server.
 */
import { describe, expect, test } from 'vitest';
import { checkStored, type ClientRecord } from './checker';

function message(seq: number, id: string, clientId: string, clientSeq: number, senderId = `user-of-${clientId}`) {
	return { id, conversationId: 'c', seq, senderId, clientId, clientSeq, body: id, createdAt: '2026-01-01T00:00:00.000Z' };
}

function records(): ClientRecord[] {
	return [
		{ clientId: 'A', acked: new Map([['a1', 1]]), attempted: new Set(['a1', 'a2']) },
		{ clientId: 'B', acked: new Map([['b1', 2]]), attempted: new Set(['b1']) }
	];
}

const consistent = [message(1, 'a1', 'A', 1), message(2, 'b1', 'B', 1), message(3, 'a2', 'A', 2)];

describe('checkStored', () => {
	test('accepts what the clients sent, un-acked sends included', () => {
		const { byClient } = checkStored(consistent, records());
		expect(byClient.get('A')).toEqual([1, 2]);
	});

	test('fails on a message under a client id that the client never sent', () => {
		const stored = [...consistent, message(4, 'invented', 'A', 3)];
		expect(() => checkStored(stored, records())).toThrow(/stored invented was sent by client A/);
	});

	test('fails on a message from a client no record accounts for', () => {
		const stored = [...consistent, message(4, 'stranger', 'Z', 1)];
		expect(() => checkStored(stored, records())).toThrow(/stored stranger was sent by client Z/);
	});

	test("fails on one client's send stored under another client", () => {
		const stored = [message(1, 'a1', 'A', 1), message(2, 'b1', 'B', 1), message(3, 'a2', 'B', 2)];
		expect(() => checkStored(stored, records())).toThrow(/stored a2 was sent by client B/);
	});

	test("fails on one client's sends stored under two users", () => {
		const stored = [message(1, 'a1', 'A', 1), message(2, 'b1', 'B', 1), message(3, 'a2', 'A', 2, 'someone-else')];
		expect(() => checkStored(stored, records())).toThrow(/client A sends as one user/);
	});

	test('fails on a seq gap, a duplicate id, or an ack the store contradicts', () => {
		expect(() => checkStored([message(1, 'a1', 'A', 1), message(3, 'b1', 'B', 1)], records())).toThrow(/gapless/);
		expect(() => checkStored([...consistent, message(4, 'a2', 'A', 2)], records())).toThrow(/no duplicate ids/);
		expect(() => checkStored([message(1, 'b1', 'B', 1), message(2, 'a1', 'A', 1)], records())).toThrow(/acked a1/);
	});
});
