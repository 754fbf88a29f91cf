import { afterAll, beforeAll, beforeEach, describe, expect, test, vi } from 'vitest';
import { createPostgresDatabase } from '../../../../tests/integration/harness';
import { AppError } from '$lib/errors';
import type { ErrorCode } from '$lib/protocol';
import type { User } from '$lib/types';
import { InProcessBus, type EventBus, type Note } from '../bus';
import { loadConfig, type Config } from '../config';
import { openDatabase, type Database } from '../db';
import { users } from '../db/schema';
import { ChatService } from './service';
import { log } from '../log';

const engines = process.env.TEST_DATABASE_URL ? ['pglite', 'postgres'] : ['pglite'];

/** The one place a ChatService is built here, so that a change to its constructor is one line. */
function chatService(database: Database, bus: EventBus, settings: Partial<Config> = {}): ChatService {
	return new ChatService(database.db, database.batch, bus, { ...loadConfig({}), rateLimit: false, ...settings });
}

/** Resolves with the AppError code the call failed with (and fails the test if it did not fail). */
async function codeOf(call: Promise<unknown>): Promise<ErrorCode> {
	const error = await call.then(
		() => undefined,
		(e: unknown) => e
	);
	expect(error).toBeInstanceOf(AppError);
	return (error as AppError).code;
}

describe.each(engines)('ChatService on %s', (engine) => {
	let database: Database;
	let bus: InProcessBus;
	let chat: ChatService;
	/** What the service published on this instance, as push (onPublished) sees it. */
	let published: Note[];

	beforeAll(async () => {
		database = await openDatabase(engine === 'postgres' ? await createPostgresDatabase() : 'memory://', '');
		bus = new InProcessBus();
		bus.onPublished((notes) => published.push(...notes));
		chat = chatService(database, bus);
	});
	beforeEach(() => {
		published = [];
	});
	afterAll(async () => {
		await chat.flush();
		await bus.close();
		await database.close();
	});

	/** Fresh users for each test: a pair has one conversation, so tests must not share pairs. */
	async function people(count: number): Promise<User[]> {
		const made = Array.from({ length: count }, () => {
			const id = crypto.randomUUID();
			return { id, username: `u${id.replaceAll('-', '').slice(0, 12)}` };
		});
		await database.db.insert(users).values(made.map((u) => ({ ...u, passwordHash: 'x' })));
		return made;
	}

	async function pair() {
		const [a, b, stranger] = await people(3);
		const conversation = await chat.openConversation(a.id, b.username);
		published = [];
		return { a, b, stranger, conversationId: conversation.id };
	}

	/** One client of a user: sends carry its clientId and consecutive clientSeqs. */
	function client(user: User, conversationId: string) {
		const clientId = crypto.randomUUID();
		let clientSeq = 0;
		return (body: string, id: string = crypto.randomUUID()) => {
			const input = { id, conversationId, clientId, clientSeq: ++clientSeq, body, replyTo: null };
			return { input, ack: chat.send(user.id, input) };
		};
	}

	const notesOf = (kind: Note['kind']) => published.filter((n) => n.kind === kind);

	test('opening a conversation creates it once for the pair, whoever asks, and refuses oneself and unknown users', async () => {
		const [a, b] = await people(2);
		const opened = await chat.openConversation(a.id, b.username);
		expect(opened).toMatchObject({ peer: b, lastSeq: 0, lastMessage: null, unreadCount: 0 });
		// Both members learn of it through their logs, and each of the other's presence (they were
		// not peers when their connections opened).
		expect(
			notesOf('event')
				.map((n) => n.userId)
				.sort()
		).toEqual([a.id, b.id].sort());
		expect(notesOf('event').every((n) => n.kind === 'event' && n.seq >= 1)).toBe(true);
		expect(notesOf('ephemeral')).toEqual(
			expect.arrayContaining([
				{ kind: 'ephemeral', userId: a.id, event: { type: 'presence', userId: b.id, online: false, lastSeenAt: null } },
				{ kind: 'ephemeral', userId: b.id, event: { type: 'presence', userId: a.id, online: false, lastSeenAt: null } }
			])
		);
		expect(published).toHaveLength(4);

		published = [];
		const again = await chat.openConversation(a.id, b.username);
		const fromPeer = await chat.openConversation(b.id, a.username);
		expect(again.id).toBe(opened.id);
		expect(fromPeer).toMatchObject({ id: opened.id, peer: a });
		expect(published).toEqual([]);
		expect((await chat.listConversations(a.id)).map((c) => c.id)).toEqual([opened.id]);

		expect(await codeOf(chat.openConversation(a.id, a.username))).toBe('bad_request');
		expect(await codeOf(chat.openConversation(a.id, 'nobody_by_that_name'))).toBe('not_found');
		expect(await chat.listConversations(a.id)).toHaveLength(1);
	});

	test('a send is acked once stored, and both members are told with the message itself', async () => {
		const { a, b, conversationId } = await pair();
		const heardByB: Note[] = [];
		const unsubscribe = bus.subscribe(b.id, (note) => heardByB.push(note));
		const { input, ack } = client(a, conversationId)('hello');
		const acked = await ack;
		unsubscribe();
		expect(acked).toMatchObject({ id: input.id, conversationId, seq: 1 });
		expect(Number.isNaN(Date.parse(acked.createdAt))).toBe(false);

		const notes = notesOf('event');
		expect(notes.map((n) => n.userId).sort()).toEqual([a.id, b.id].sort());
		for (const note of notes) {
			expect(note).toMatchObject({ event: { type: 'message', message: { id: input.id, seq: 1, senderId: a.id, body: 'hello' } } });
		}
		expect(heardByB).toEqual(notes.filter((n) => n.userId === b.id));

		const page = await chat.history(b.id, conversationId, { limit: 50 });
		expect(page.messages.map((m) => [m.seq, m.body, m.clientSeq])).toEqual([[1, 'hello', 1]]);
		expect(await chat.getConversation(b.id, conversationId)).toMatchObject({ lastSeq: 1, unreadCount: 1 });
	});

	test('a resend with the same id is answered with the first ack and stores nothing', async () => {
		const { a, b, conversationId } = await pair();
		const send = client(a, conversationId);
		const first = send('once');
		const acked = await first.ack;
		await send('twice').ack;
		published = [];
		// The client retries the first after a lost ack (it is now behind this client's last clientSeq),
		expect(await chat.send(a.id, first.input)).toEqual(acked);
		// and a no-JavaScript resubmit of the same id is recognised too.
		expect(await chat.sendFromForm(a, 'some-session', { id: first.input.id, conversationId, body: 'once' })).toEqual(acked);
		expect(published).toEqual([]);
		const page = await chat.history(b.id, conversationId, { limit: 50 });
		expect(page.messages.map((m) => m.body)).toEqual(['once', 'twice']);
	});

	test('a resend of an id with a different body, conversation or sender is a conflict', async () => {
		const { a, b, conversationId } = await pair();
		const { input, ack } = client(a, conversationId)('original');
		await ack;
		expect(await codeOf(chat.send(a.id, { ...input, body: 'edited' }))).toBe('conflict');
		expect(await codeOf(chat.send(b.id, { ...input, clientId: crypto.randomUUID(), clientSeq: 1 }))).toBe('conflict');
		const other = await pair();
		const intoOther = await codeOf(chat.send(other.a.id, { ...input, conversationId: other.conversationId }));
		expect(intoOther).toBe('conflict');
		const page = await chat.history(a.id, conversationId, { limit: 50 });
		expect(page.messages.map((m) => m.body)).toEqual(['original']);
	});

	test('someone outside the conversation is answered not_found for everything, and nothing is published', async () => {
		const { a, stranger, conversationId } = await pair();
		await client(a, conversationId)('private').ack;
		published = [];
		const strangerSend = client(stranger, conversationId)('let me in');
		expect(await codeOf(strangerSend.ack)).toBe('not_found');
		expect(await codeOf(chat.history(stranger.id, conversationId, { limit: 50 }))).toBe('not_found');
		expect(await codeOf(chat.getConversation(stranger.id, conversationId))).toBe('not_found');
		expect(await codeOf(chat.receipt(stranger.id, { conversationId, seq: 1, status: 'read' }))).toBe('not_found');
		expect(await codeOf(chat.typing(stranger.id, conversationId))).toBe('not_found');
		expect(await codeOf(chat.sendFromForm(stranger, 'their-session', { id: crypto.randomUUID(), conversationId, body: 'x' }))).toBe(
			'not_found'
		);
		// A conversation that does not exist is answered the same: its existence is never revealed.
		expect(await codeOf(chat.history(a.id, crypto.randomUUID(), { limit: 50 }))).toBe('not_found');
		expect(published).toEqual([]);
		const page = await chat.history(a.id, conversationId, { limit: 50 });
		expect(page.messages.map((m) => m.body)).toEqual(['private']);
	});

	test("one client's sends commit in clientSeq order, whatever order they arrive in", async () => {
		const { a, conversationId } = await pair();
		const clientId = crypto.randomUUID();
		const send = (clientSeq: number, body: string) =>
			chat.send(a.id, { id: crypto.randomUUID(), conversationId, clientId, clientSeq, body, replyTo: null });
		const second = send(2, 'second');
		const first = send(1, 'first');
		const [ack1, ack2] = await Promise.all([first, second]);
		expect([ack1.seq, ack2.seq]).toEqual([1, 2]);
		const page = await chat.history(a.id, conversationId, { limit: 50 });
		expect(page.messages.map((m) => [m.clientSeq, m.body])).toEqual([
			[1, 'first'],
			[2, 'second']
		]);
	});

	test('receipts are cumulative, reading implies delivery, and neither moves back', async () => {
		const { a, b, conversationId } = await pair();
		const send = client(a, conversationId);
		for (const body of ['one', 'two', 'three']) await send(body).ack;
		published = [];

		// A receipt past the last message counts up to the last message only.
		expect(await chat.receipt(b.id, { conversationId, seq: 99, status: 'delivered' })).toBe(true);
		const receipts = notesOf('event');
		expect(receipts.map((n) => n.userId).sort()).toEqual([a.id, b.id].sort());
		for (const note of receipts) {
			expect(note).toMatchObject({ event: { type: 'receipt', conversationId, userId: b.id, deliveredSeq: 3, readSeq: 0 } });
		}

		published = [];
		expect(await chat.receipt(b.id, { conversationId, seq: 1, status: 'delivered' })).toBe(false);
		expect(published).toEqual([]);
		expect(await chat.receipt(b.id, { conversationId, seq: 2, status: 'read' })).toBe(true);
		expect(notesOf('event')[0]).toMatchObject({ event: { deliveredSeq: 3, readSeq: 2 } });
		published = [];
		expect(await chat.receipt(b.id, { conversationId, seq: 1, status: 'read' })).toBe(false);
		expect(published).toEqual([]);

		expect(await chat.getConversation(a.id, conversationId)).toMatchObject({ peerDeliveredSeq: 3, peerReadSeq: 2 });
		expect(await chat.getConversation(b.id, conversationId)).toMatchObject({ myReadSeq: 2, unreadCount: 1 });
	});

	test('reading one’s own conversation up to the end leaves nothing unread', async () => {
		const { a, b, conversationId } = await pair();
		await client(a, conversationId)('hi').ack;
		expect(await chat.receipt(b.id, { conversationId, seq: 1, status: 'read' })).toBe(true);
		expect(await chat.getConversation(b.id, conversationId)).toMatchObject({ myReadSeq: 1, unreadCount: 0 });
		// The sender's own messages never count as unread for them.
		expect(await chat.getConversation(a.id, conversationId)).toMatchObject({ unreadCount: 0, peerReadSeq: 1, peerDeliveredSeq: 1 });
	});

	test('typing reaches the other member only, and at most twice a second', async () => {
		const { a, b, conversationId } = await pair();
		await chat.typing(a.id, conversationId);
		expect(published).toEqual([{ kind: 'ephemeral', userId: b.id, event: { type: 'typing', conversationId, userId: a.id } }]);

		published = [];
		await chat.typing(a.id, conversationId);
		expect(published).toEqual([]);
		// The limit is per user: the peer typing back is told at once.
		await chat.typing(b.id, conversationId);
		expect(published).toEqual([{ kind: 'ephemeral', userId: a.id, event: { type: 'typing', conversationId, userId: b.id } }]);

		published = [];
		await new Promise((resolve) => setTimeout(resolve, 550));
		await chat.typing(a.id, conversationId);
		expect(published.map((n) => n.userId)).toEqual([b.id]);
	});

	/** What `user` was told, in order: the types of their events. */
	const heardBy = (user: User) =>
		published.filter((n) => n.userId === user.id).map((n) => (n.kind === 'event' || n.kind === 'ephemeral' ? n.event?.type : n.kind));

	test('a send restarts the typing limit, and typing after it never overtakes its message', async () => {
		const { a, b, conversationId } = await pair();
		const send = client(a, conversationId);
		// Still being checked when the send arrives: it goes out as it is, before the message.
		const first = chat.typing(a.id, conversationId);
		const { ack } = send('ok');
		// Well within the half second of the first typing, and while the message is being committed.
		const typed = chat.typing(a.id, conversationId);
		await Promise.all([first, ack, typed]);
		expect(heardBy(b)).toEqual(['typing', 'message', 'typing']);
	});

	test('a stop ends a typing still going on, once; a send or a stop lets the next typing through at once', async () => {
		const { a, b, stranger, conversationId } = await pair();
		expect(await codeOf(chat.typingStopped(stranger.id, conversationId))).toBe('not_found');
		await chat.typingStopped(a.id, conversationId);
		expect(heardBy(b)).toEqual([]);
		await chat.typing(a.id, conversationId);
		await chat.typingStopped(a.id, conversationId);
		await chat.typingStopped(a.id, conversationId);
		expect(published).toEqual([
			{ kind: 'ephemeral', userId: b.id, event: { type: 'typing', conversationId, userId: a.id } },
			{ kind: 'ephemeral', userId: b.id, event: { type: 'typing_stopped', conversationId, userId: a.id } }
		]);
		await chat.typing(a.id, conversationId);
		await client(a, conversationId)('done').ack;
		// The message ended the typing: a stop after it is no news.
		await chat.typingStopped(a.id, conversationId);
		expect(heardBy(b)).toEqual(['typing', 'typing_stopped', 'typing', 'message']);
	});

	test('history pages backwards from the newest, and forwards after a seq', async () => {
		const { a, b, conversationId } = await pair();
		const send = client(a, conversationId);
		for (let i = 1; i <= 5; i++) await send(`m${i}`).ack;
		const seqs = async (query: { before?: number; after?: number; limit: number }) => {
			const page = await chat.history(b.id, conversationId, query);
			return { seqs: page.messages.map((m) => m.seq), hasMore: page.hasMore };
		};
		expect(await seqs({ limit: 2 })).toEqual({ seqs: [4, 5], hasMore: true });
		expect(await seqs({ before: 4, limit: 2 })).toEqual({ seqs: [2, 3], hasMore: true });
		expect(await seqs({ before: 2, limit: 2 })).toEqual({ seqs: [1], hasMore: false });
		expect(await seqs({ after: 0, limit: 2 })).toEqual({ seqs: [1, 2], hasMore: true });
		expect(await seqs({ after: 3, limit: 2 })).toEqual({ seqs: [4, 5], hasMore: false });
		expect(await seqs({ after: 5, limit: 2 })).toEqual({ seqs: [], hasMore: false });
		expect(await seqs({ limit: 50 })).toEqual({ seqs: [1, 2, 3, 4, 5], hasMore: false });
	});

	test('with rate limiting on, a burst past SEND_BURST is refused with a time to wait', async () => {
		const limitedBus = new InProcessBus();
		const limited = chatService(database, limitedBus, { rateLimit: true, sendBurst: 2, sendPerMinute: 1 });
		const { a, conversationId } = await pair();
		const clientId = crypto.randomUUID();
		const send = (clientSeq: number) =>
			limited.send(a.id, { id: crypto.randomUUID(), conversationId, clientId, clientSeq, body: `n${clientSeq}`, replyTo: null });
		await send(1);
		await send(2);
		const refused = await send(3).catch((e: AppError) => e);
		expect(refused).toBeInstanceOf(AppError);
		expect(refused).toMatchObject({ code: 'rate_limited' });
		expect((refused as AppError).retryAfter).toBeGreaterThan(0);
		await limited.flush();
	});

	test('presence: the first connection announces online to peers, the last one offline with the time', async () => {
		const { a, b } = await pair();
		await chat.connected(a.id);
		expect(published).toEqual([
			{ kind: 'ephemeral', userId: b.id, event: { type: 'presence', userId: a.id, online: true, lastSeenAt: null } }
		]);
		published = [];
		await chat.connected(a.id);
		await chat.disconnected(a.id);
		expect(published).toEqual([]);
		expect(chat.isOnline(a.id)).toBe(true);
		await chat.disconnected(a.id);
		expect(chat.isOnline(a.id)).toBe(false);
		expect(published).toHaveLength(1);
		expect(published[0]).toMatchObject({ kind: 'ephemeral', userId: b.id, event: { type: 'presence', userId: a.id, online: false } });
		const { event } = published[0] as Extract<Note, { kind: 'ephemeral' }>;
		expect(event.type === 'presence' && Date.parse(event.lastSeenAt ?? '')).toBeGreaterThan(Date.now() - 60_000);
	});

	test('ending sessions publishes a revoked note, which the session caches hear', async () => {
		const [a] = await people(1);
		const revoked: Note[] = [];
		bus.onRevoked((note) => revoked.push(note));
		chat.revokeSessions(a.id, ['s1']);
		expect(revoked).toEqual([{ kind: 'revoked', userId: a.id, sessionIds: ['s1'] }]);
		expect(published).toEqual(revoked);
	});
});

describe('link previews of sends [pglite]', () => {
	const preview = (url: string) => ({ url, title: 'A page', description: null, siteName: null, imageUrl: null });

	interface Asked {
		url: string;
		answer(result: unknown): void;
	}

	/** A service whose preview fetches wait for the test: `asked(i)` resolves with the i-th once it is asked, to answer it. */
	async function withPreviews() {
		const database = await openDatabase('memory://', '');
		const bus = new InProcessBus();
		const published: Note[] = [];
		bus.onPublished((notes) => published.push(...notes));
		const calls: Asked[] = [];
		const waiting: (() => void)[] = [];
		const asked = async (i: number): Promise<Asked> => {
			while (calls.length <= i) await new Promise<void>((resolve) => waiting.push(resolve));
			return calls[i];
		};
		const chat = new ChatService(
			database.db,
			database.batch,
			bus,
			{ ...loadConfig({}), rateLimit: false },
			undefined,
			(_senderId, url) =>
				new Promise((resolve, reject) => {
					calls.push({ url, answer: (result) => (result instanceof Error ? reject(result) : resolve(result as never)) });
					for (const wake of waiting.splice(0)) wake();
				})
		);
		const [a, b] = [crypto.randomUUID(), crypto.randomUUID()].map((id) => ({ id, username: `u${id.replaceAll('-', '').slice(0, 12)}` }));
		await database.db.insert(users).values([a, b].map((u) => ({ ...u, passwordHash: 'x' })));
		const { id: conversationId } = await chat.openConversation(a.id, b.username);
		const send = (body: string) =>
			chat.send(a.id, { id: crypto.randomUUID(), conversationId, clientId: a.id, clientSeq: 1, body, replyTo: null });
		return { database, bus, chat, published, asked, send, a };
	}

	test('the ack comes before the fetch ends; the preview then reaches both members as a message_updated', async () => {
		const { database, bus, chat, published, asked, send, a } = await withPreviews();
		// Acked while the fetch is still pending (it ends only when the test answers it).
		const ack = await send('see https://a.example/page');
		const fetch = await asked(0);
		expect(fetch.url).toBe('https://a.example/page');
		fetch.answer(preview('https://a.example/page'));
		await chat.flush();
		const updates = published.flatMap((n) => (n.kind === 'event' && n.event?.type === 'message_updated' ? [n] : []));
		expect(updates).toHaveLength(2);
		expect((await chat.getMessage(a.id, ack.id)).preview).toEqual(preview('https://a.example/page'));
		await bus.close();
		await database.close();
	});

	test('a fetch that fails, or a follow-up write on a database that is gone, is only logged: no crash, no unhandled rejection', async () => {
		const errors = vi.spyOn(log, 'error').mockImplementation(() => {});
		try {
			const { database, bus, chat, asked, send, a } = await withPreviews();
			const ack = await send('https://a.example/one');
			(await asked(0)).answer(new Error('the cache read failed'));
			await chat.flush();
			expect(errors).toHaveBeenCalledTimes(1);
			expect((await chat.getMessage(a.id, ack.id)).preview).toBeNull();

			await chat.send(a.id, {
				id: crypto.randomUUID(),
				conversationId: ack.conversationId,
				clientId: a.id,
				clientSeq: 2,
				body: 'https://a.example/two',
				replyTo: null
			});
			const second = await asked(1);
			await database.close();
			second.answer(preview('https://a.example/two'));
			await chat.flush();
			expect(errors).toHaveBeenCalledTimes(2);
			await bus.close();
		} finally {
			errors.mockRestore();
		}
	});
});
