/**
 * Message retention on both engines, with a fake clock (the `now` each run is given): messages
 * older than the retention are deleted through group commit (each member gets `message_updated`,
 * reactions go), newer ones are untouched, each run does bounded work, runs at once on a shared
 * PostgreSQL delete each message once, and a conversation under a block keeps its messages.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { eq, inArray } from 'drizzle-orm';
import { createPostgresDatabase } from '../../../../tests/integration/harness';
import type { DurableEvent, User } from '$lib/types';
import { InProcessBus, type Note } from '../bus';
import { loadConfig } from '../config';
import { openDatabase, type Database } from '../db';
import { messages, reactions, users } from '../db/schema';
import { block } from './blocks';
import { expireMessages } from './message-retention';
import { ChatService } from './service';

const engines = process.env.TEST_DATABASE_URL ? ['pglite', 'postgres'] : ['pglite'];
const DAY = 24 * 60 * 60 * 1000;

describe.each(engines)('message retention on %s', (engine) => {
	let database: Database;
	let bus: InProcessBus;
	let chat: ChatService;
	let published: Note[];
	/** The fake clock: far enough ahead that every message sent now is 40 days old by it. */
	const NOW = new Date(Date.now() + 40 * DAY);
	const shared = engine === 'postgres';

	beforeAll(async () => {
		database = await openDatabase(engine === 'postgres' ? await createPostgresDatabase() : 'memory://', '');
		bus = new InProcessBus();
		bus.onPublished((notes) => published.push(...notes));
		chat = new ChatService(database.db, database.batch, bus, { ...loadConfig({}), rateLimit: false });
	});
	beforeEach(() => {
		published = [];
	});
	afterAll(async () => {
		await chat.flush();
		await bus.close();
		await database.close();
	});

	async function pair() {
		const made: User[] = Array.from({ length: 2 }, () => {
			const id = crypto.randomUUID();
			return { id, username: `m${id.replaceAll('-', '').slice(0, 12)}` };
		});
		await database.db.insert(users).values(made.map((u) => ({ ...u, passwordHash: 'x' })));
		const [a, b] = made;
		const { id: conversationId } = await chat.openConversation(a.id, b.username);
		return { a, b, conversationId };
	}

	/** Sends `count` messages from `from`, then makes them `ageDays` older than the fake clock. */
	async function sent(from: User, conversationId: string, count: number, ageDays = 40) {
		const clientId = crypto.randomUUID();
		const ids: string[] = [];
		for (let clientSeq = 1; clientSeq <= count; clientSeq++) {
			const id = crypto.randomUUID();
			await chat.send(from.id, { id, conversationId, clientId, clientSeq, body: `message ${clientSeq}`, replyTo: null });
			ids.push(id);
		}
		await database.db
			.update(messages)
			.set({ createdAt: new Date(NOW.getTime() - ageDays * DAY) })
			.where(inArray(messages.id, ids));
		return ids;
	}

	const deletedOf = async (ids: string[]) =>
		(
			await database.db
				.select({ id: messages.id, deletedAt: messages.deletedAt, body: messages.body })
				.from(messages)
				.where(inArray(messages.id, ids))
		)
			.filter((m) => m.deletedAt !== null && m.body === '')
			.map((m) => m.id)
			.sort();
	const updates = () =>
		published.flatMap((n) => (n.kind === 'event' && n.event?.type === 'message_updated' ? [{ userId: n.userId, event: n.event }] : [])) as {
			userId: string;
			event: Extract<DurableEvent, { type: 'message_updated' }>;
		}[];

	test('deletes what is older than the retention, with its reactions, and tells both members; newer messages stay', async () => {
		const { a, b, conversationId } = await pair();
		const old = await sent(a, conversationId, 2, 40);
		const recent = await sent(b, conversationId, 2, 29);
		await chat.changeFor(b.id, conversationId, { op: 'react', messageId: old[0], emoji: '👍' });
		published = [];

		expect(await expireMessages(database.db, chat, { retentionDays: 30, shared }, NOW)).toBeGreaterThanOrEqual(2);
		expect(await deletedOf([...old, ...recent])).toEqual([...old].sort());
		expect(await database.db.select().from(reactions).where(eq(reactions.messageId, old[0]))).toEqual([]);
		const mine = updates().filter((u) => old.includes(u.event.message.id));
		expect(mine).toHaveLength(4);
		expect(new Set(mine.map((u) => u.userId))).toEqual(new Set([a.id, b.id]));
		expect(mine.every((u) => u.event.message.deletedAt !== null && u.event.message.body === '')).toBe(true);

		// A day later on the clock the next ones are due; a run with nothing due changes nothing.
		published = [];
		await expireMessages(database.db, chat, { retentionDays: 30, shared }, new Date(NOW.getTime() + 1.5 * DAY));
		expect(await deletedOf(recent)).toEqual([...recent].sort());
		const before = updates().length;
		await expireMessages(database.db, chat, { retentionDays: 30, shared }, new Date(NOW.getTime() + 1.5 * DAY));
		expect(updates().length - before).toBe(0);
	});

	test('each run does bounded work; the rest waits for the next run', async () => {
		const { a, conversationId } = await pair();
		// Older than anything the other tests leave behind, so these are the first due.
		const old = await sent(a, conversationId, 7, 400);
		const clock = new Date(NOW.getTime() - 300 * DAY);
		expect(await expireMessages(database.db, chat, { retentionDays: 30, batchSize: 2, batches: 2, shared }, clock)).toBe(4);
		expect(await deletedOf(old)).toHaveLength(4);
		expect(await expireMessages(database.db, chat, { retentionDays: 30, batchSize: 2, batches: 2, shared }, clock)).toBe(3);
		expect(await deletedOf(old)).toHaveLength(7);
	});

	test('a conversation under a block keeps its messages until the block is lifted', async () => {
		const { a, b, conversationId } = await pair();
		const old = await sent(a, conversationId, 1, 40);
		await block(database.db, b.id, a.username);
		await expireMessages(database.db, chat, { retentionDays: 30, shared }, NOW);
		expect(await deletedOf(old)).toEqual([]);
	});

	test.runIf(shared)('runs at once (as several instances) delete every old message once', async () => {
		const { a, b, conversationId } = await pair();
		const old = await sent(a, conversationId, 30, 500);
		const clock = new Date(NOW.getTime() - 400 * DAY);
		published = [];
		const counts = await Promise.all(
			Array.from({ length: 3 }, () => expireMessages(database.db, chat, { retentionDays: 30, batchSize: 7, batches: 100, shared }, clock))
		);
		expect(counts.reduce((x, y) => x + y, 0)).toBe(30);
		// Only one run held the lock; the others did nothing rather than submit the same deletes.
		expect(counts.filter((c) => c > 0)).toHaveLength(1);
		expect(await deletedOf(old)).toHaveLength(30);
		const events = updates().filter((u) => old.includes(u.event.message.id));
		expect(events).toHaveLength(60);
		expect(new Set(events.map((u) => u.userId))).toEqual(new Set([a.id, b.id]));
	});
});
