import { describe, expect, test } from 'vitest';
import type { Db } from '../db';
import { batchWriter } from '../db/batch';
import { GroupCommit, type BatchSend } from './group-commit';
import type { ConversationMembers } from './members';

/** A postgres.js stand-in: answers the lock read from the ids it is given; COMMITs wait for `release`. */
function fakeDatabase() {
	const batches: string[][] = [];
	const commits: Array<() => void> = [];
	const connection = {
		async unsafe(text: string, params: string[] = []) {
			if (text === 'begin' || text === 'rollback') return [];
			if (text === 'commit') return new Promise<unknown[]>((resolve) => commits.push(() => resolve([])));
			if (text.includes('for no key update')) {
				const ids = (list: string) => (list === '{}' ? [] : list.slice(1, -1).split(','));
				batches.push(ids(params[0]));
				return [...ids(params[0]).map((id) => ({ kind: 'c', id, n: 0 })), ...ids(params[1]).map((id) => ({ kind: 'u', id, n: 0 }))];
			}
			return [];
		},
		release() {}
	};
	const db = { $client: { reserve: async () => connection } } as unknown as Db;
	return { db, batches, commits };
}

const members = (table: Record<string, string[]>) =>
	({ get: (id: string) => table[id], load: async () => {} }) as unknown as ConversationMembers;

const TABLE: Record<string, string[]> = { A: ['u1', 'u2'], B: ['u3', 'u4'], C: ['u1', 'u5'] };

const send = (conversationId: string, n: number): BatchSend => ({
	id: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
	conversationId,
	senderId: TABLE[conversationId][0],
	clientId: 'c',
	clientSeq: n,
	body: 'x'
});

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('GroupCommit', () => {
	test('a second batch in flight takes only sends whose conversation and members the first does not hold', async () => {
		const { db, batches, commits } = fakeDatabase();
		const group = new GroupCommit(batchWriter(db), members(TABLE), {
			maxInFlight: 2,
			maxBatch: 256,
			resend: () => ({}) as never,
			published: () => {},
			uncertain: () => {}
		});
		const first = group.submit(send('A', 1));
		await settle();
		expect(batches).toEqual([['A']]);
		// While A's batch commits: B is free; C shares u1 with it, and a second A send its conversation.
		const rest = [group.submit(send('C', 2)), group.submit(send('B', 3)), group.submit(send('A', 4))];
		await settle();
		await settle();
		expect(batches).toEqual([['A'], ['B']]);
		commits.shift()!();
		await first;
		await settle();
		await settle();
		// A's batch is done: C and the second A send leave together, in the order they came.
		expect(batches).toEqual([['A'], ['B'], ['A', 'C']]);
		while (commits.length) commits.shift()!();
		await settle();
		while (commits.length) commits.shift()!();
		// Every send is answered, each with its own conversation's ack.
		const committed = await Promise.all(rest);
		expect(committed.map((c) => c.ack.conversationId)).toEqual(['C', 'B', 'A']);
	});
});
