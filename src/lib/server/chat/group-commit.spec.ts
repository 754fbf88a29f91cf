import { describe, expect, test } from 'vitest';
import { postgresBatchWriter } from '../db/batch';
import { GroupCommit, type BatchSend } from './group-commit';
import type { ConversationMembers } from './members';
import { toRecord } from './message-columns';
import type { MessageRow } from './views';

/** A postgres.js stand-in: answers the lock read from the ids it is given; each COMMIT waits for its entry in `commits`. */
function fakeDatabase(options: { autoCommit?: boolean; failWrites?: unknown[]; stored?: Record<string, MessageRow> } = {}) {
	const batches: string[][] = [];
	const writes: unknown[][] = [];
	const commits: Array<(error?: unknown) => void> = [];
	const connection = {
		async unsafe(text: string, params: string[] = []) {
			if (text === 'begin' || text === 'rollback') return [];
			if (text.includes('insert into messages') && options.failWrites?.length) throw options.failWrites.shift();
			if (text === 'commit' && options.autoCommit) return [];
			if (text === 'commit')
				return new Promise<unknown[]>((resolve, reject) => commits.push((error) => (error ? reject(error) : resolve([]))));
			if (text.includes('for no key update')) {
				const ids = (list: string) => (list === '{}' ? [] : list.slice(1, -1).split(','));
				batches.push(ids(params[0]));
				const locked = ids(params[5] ?? '{}').map((id) => ({
					kind: 'x',
					id,
					n: null,
					stored: JSON.stringify(toRecord(options.stored![id]))
				}));
				return [
					...ids(params[0]).map((id) => ({ kind: 'c', id, n: 0 })),
					...locked,
					...ids(params[1]).map((id) => ({ kind: 'u', id, n: 0 }))
				];
			}
			if (text.includes('insert into messages')) writes.push(params);
			return [];
		},
		release() {}
	};
	const client = { reserve: async () => connection };
	return { client, batches, commits, writes };
}

/** Deadlines no test here comes near. */
const TIMEOUTS = { statementMs: 1000, idleInTransactionMs: 1000, answerMs: 1500, connectMs: 1500, retryMaxMs: 50, acquireMs: 1500 };

/** Never counts the database away, so each test sees its batches alone. */
const alwaysThere = {
	reachable: true,
	error: () => new Error('unreachable'),
	failed: () => {},
	succeeded: () => {},
	watch: () => () => {}
};

const members = (table: Record<string, string[]>) =>
	({ get: (id: string) => table[id], load: async () => {} }) as unknown as ConversationMembers;

const TABLE: Record<string, string[]> = { A: ['u1', 'u2'], B: ['u3', 'u4'], C: ['u1', 'u5'] };

const send = (conversationId: string, n: number): BatchSend => ({
	id: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
	conversationId,
	senderId: TABLE[conversationId][0],
	clientId: 'c',
	clientSeq: n,
	body: 'x',
	replyTo: null
});

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('GroupCommit', () => {
	test('a second batch in flight takes only sends whose conversation and members the first does not hold', async () => {
		const { client, batches, commits } = fakeDatabase();
		const group = new GroupCommit(postgresBatchWriter(client, TIMEOUTS, alwaysThere), members(TABLE), {
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

describe('GroupCommit deadlines', () => {
	const timeouts = { statementMs: 50, idleInTransactionMs: 1000, answerMs: 100, connectMs: 100, retryMaxMs: 10, acquireMs: 100 };

	test('a batch whose statements never settle is given up: its sends get unavailable, its rows and slot are free, the next batch commits', async () => {
		const { client, batches, commits } = fakeDatabase();
		const uncertain: string[][] = [];
		const published: string[] = [];
		const group = new GroupCommit(postgresBatchWriter(client, timeouts, alwaysThere), members(TABLE), {
			maxInFlight: 1,
			maxBatch: 256,
			resend: () => ({}) as never,
			published: (events) => published.push(...events.map((e) => e.message.id)),
			uncertain: (userIds) => uncertain.push(userIds)
		});
		const started = Date.now();
		const stuck = group.submit(send('A', 1));
		// Its COMMIT is never answered (a blackholed connection): the deadline answers instead.
		await expect(stuck).rejects.toMatchObject({ code: 'unavailable' });
		expect(Date.now() - started).toBeLessThan(1000);
		expect(commits).toHaveLength(1);
		// The same conversation (its rows were held by the stuck batch) and the only slot are free.
		const next = group.submit(send('A', 2));
		for (let i = 0; i < 20 && commits.length < 2; i++) await settle();
		expect(batches).toEqual([['A'], ['A']]);
		commits[1]();
		const committed = await next;
		expect(committed.ack.conversationId).toBe('A');
		expect(published).toEqual([send('A', 2).id]);
		// The stuck COMMIT turns out to have gone through after all: what it stored is published late.
		commits[0]();
		await settle();
		expect(published).toEqual([send('A', 2).id, send('A', 1).id]);
		expect(uncertain).toEqual([]);
	});

	test('a batch whose connection is lost after COMMIT was sent answers unavailable and resyncs its users', async () => {
		const { client, commits } = fakeDatabase();
		const uncertain: string[][] = [];
		const group = new GroupCommit(postgresBatchWriter(client, timeouts, alwaysThere), members(TABLE), {
			maxInFlight: 2,
			maxBatch: 256,
			resend: () => ({}) as never,
			published: () => {},
			uncertain: (userIds) => uncertain.push(userIds)
		});
		const lost = group.submit(send('B', 1));
		for (let i = 0; i < 20 && commits.length < 1; i++) await settle();
		commits[0](Object.assign(new Error('connection lost'), { code: 'CONNECTION_CLOSED' }));
		await expect(lost).rejects.toMatchObject({ code: 'unavailable' });
		await settle();
		expect(uncertain).toEqual([['u3', 'u4']]);
	});
});

describe('GroupCommit fallback', () => {
	test('a batch that fails as a whole (an id raced in elsewhere) is retried send by send, each as a batch of one', async () => {
		const raced = Object.assign(new Error('duplicate key value violates unique constraint'), { code: '23505' });
		const { client, batches } = fakeDatabase({ autoCommit: true, failWrites: [raced] });
		const published: string[] = [];
		const group = new GroupCommit(postgresBatchWriter(client, TIMEOUTS, alwaysThere), members(TABLE), {
			maxInFlight: 1,
			maxBatch: 256,
			resend: () => ({}) as never,
			published: (events) => published.push(...events.map((e) => e.message.id)),
			uncertain: () => {}
		});
		const committed = await Promise.all([group.submit(send('A', 1)), group.submit(send('B', 2))]);
		expect(committed.map((c) => c.ack.conversationId)).toEqual(['A', 'B']);
		expect(batches).toEqual([['A', 'B'], ['A'], ['B']]);
		expect(published).toEqual([send('A', 1).id, send('B', 2).id]);
	});
});

describe('GroupCommit runs', () => {
	const group = (client: ReturnType<typeof fakeDatabase>['client'], maxBatch = 256) =>
		new GroupCommit(postgresBatchWriter(client, TIMEOUTS, alwaysThere), members(TABLE), {
			maxInFlight: 1,
			maxBatch,
			resend: () => ({}) as never,
			published: () => {},
			uncertain: () => {}
		});
	const writtenSeqs = (params: unknown[]) =>
		(JSON.parse(params[0] as string) as { client_seq: number; seq: number }[]).map((m) => [m.client_seq, m.seq]);

	test("a client's run joins one batch whole and in order, even past maxBatch", async () => {
		const { client, batches, writes } = fakeDatabase({ autoCommit: true });
		const commit = group(client, 2);
		const committed = await Promise.all([commit.submit(send('B', 9)), ...commit.submitRun([1, 2, 3].map((n) => send('A', n)))]);
		expect(batches).toEqual([['A', 'B']]);
		expect(writtenSeqs(writes[0])).toEqual([
			[9, 1],
			[1, 1],
			[2, 2],
			[3, 3]
		]);
		expect(committed.map((c) => c.ack.seq)).toEqual([1, 1, 2, 3]);
	});

	test('when a batch fails and its items are retried alone, the rest of a run after a failed send is not written', async () => {
		const broken = () => Object.assign(new Error('check constraint'), { code: '23514' });
		const { client, batches } = fakeDatabase({ autoCommit: true, failWrites: [broken(), broken()] });
		const commit = group(client);
		const answers = await Promise.allSettled([...commit.submitRun([1, 2].map((n) => send('A', n))), commit.submit(send('B', 3))]);
		expect(answers.map((a) => a.status)).toEqual(['rejected', 'rejected', 'fulfilled']);
		expect((answers[1] as PromiseRejectedResult).reason).toMatchObject({ code: 'unavailable' });
		// The whole batch, then A's first send alone (it fails), then B's: A's second is never tried.
		expect(batches).toEqual([['A', 'B'], ['A'], ['B']]);
	});
});

describe('GroupCommit changes', () => {
	test('a change joins the batch of the sends that arrive with it, locks its message, and is published after them in commit order', async () => {
		const stored: MessageRow = {
			...send('A', 9),
			clientSeq: 9,
			seq: 1,
			createdAt: new Date('2026-01-01T00:00:00.000Z'),
			editedAt: null,
			deletedAt: null,
			version: 0,
			preview: null
		};
		const { client, batches, writes } = fakeDatabase({ autoCommit: true, stored: { [stored.id]: stored } });
		const published: string[] = [];
		const group = new GroupCommit(postgresBatchWriter(client, TIMEOUTS, alwaysThere), members(TABLE), {
			maxInFlight: 1,
			maxBatch: 256,
			resend: () => ({}) as never,
			published: (events) => published.push(...events.map((e) => `${e.type} ${e.message.id} v${e.message.version}`)),
			uncertain: () => {}
		});
		const [sent, changed, repeated] = await Promise.all([
			group.submit(send('A', 1)),
			group.change({ op: 'edit', messageId: stored.id, body: 'edited', userId: 'u1', conversationId: 'A' }),
			group.change({ op: 'edit', messageId: stored.id, body: 'edited', userId: 'u1', conversationId: 'A' })
		]);
		expect(batches).toEqual([['A']]);
		expect(sent.ack.seq).toBe(1);
		expect(changed.message).toMatchObject({ body: 'edited', version: 1 });
		expect(changed.appended?.map((a) => a.userId)).toEqual(['u1', 'u2']);
		// The second, the same body again, changed nothing: no event, and the message as the first left it.
		expect(repeated).toEqual({ message: changed.message });
		expect(published).toEqual([`message ${send('A', 1).id} v0`, `message_updated ${stored.id} v1`]);
		// One write: the new message, two events per item that changed something, the changed row once.
		expect(writes).toHaveLength(1);
		const events = JSON.parse(writes[0][1] as string) as { type: string; seq: number }[];
		expect(events.map((e) => `${e.type} ${e.seq}`)).toEqual(['message 1', 'message 1', 'message_updated 2', 'message_updated 2']);
		expect(JSON.parse(writes[0][7] as string)).toEqual([expect.objectContaining({ id: stored.id, body: 'edited', version: 1 })]);
	});
});
