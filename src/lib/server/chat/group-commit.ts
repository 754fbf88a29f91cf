/**
 * Group commit of sends. Every send that arrives while a transaction is writing joins the next
 * one, so under load one transaction of a few round trips stores many messages, and with no load a
 * send is written at once, alone. Inside a batch the rules of a single send hold: conversations,
 * then users, are locked in id order (the order every other writer uses, so no deadlock); each
 * conversation's seq and each member's event cursor are handed out in arrival order under those
 * locks; an id already stored is answered as a resend; nothing is acknowledged before COMMIT
 * returns. The sequence buffer still decides *when* a send may be committed (one per client and
 * conversation at a time, in clientSeq order), so a batch never reorders one client's sends.
 * If a batch fails as a whole (say the same id raced in through another instance), each of its
 * sends is retried alone, in order, through the one-send path.
 */
import { AppError } from '$lib/errors';
import { isUnavailable } from '../failures';
import type { Ack, Message } from '$lib/types';
import type { Db } from '../db';
import type { Appended } from './events';
import type { ConversationMembers } from './members';
import { toMessage, type MessageRow } from './views';

export interface BatchSend {
	id: string;
	conversationId: string;
	senderId: string;
	clientId: string;
	clientSeq: number;
	body: string;
}

/** A stored send; `message` and `appended` only when this call stored it (not for a resend). */
export interface Committed {
	ack: Ack;
	message?: Message;
	appended?: Appended[];
}

export interface GroupCommitOptions<S extends BatchSend> {
	/**
	 * Transactions writing batches at the same time on PostgreSQL (later arrivals wait and join the
	 * next batch). One batch's commit (its fsync) then overlaps the next one's statements.
	 */
	maxInFlight: number;
	maxBatch: number;
	/** The one-send path, used when a whole batch fails; it publishes its own events. */
	single(send: S): Promise<Committed>;
	/** Answers a send whose id is already stored (same ack, or a conflict). */
	resend(existing: MessageRow, send: S): Ack;
	/** Called once per committed batch with what it stored, in commit (seq and cursor) order. */
	published(stored: Committed[]): void;
}

type Outcome = { ok: true; value: Committed } | { ok: false; error: unknown };

interface Queued<S> {
	send: S;
	resolve(value: Committed): void;
	reject(error: unknown): void;
}

const NOT_FOUND = () => new AppError('not_found', 'There is no such conversation.');

/**
 * An array literal of uuids or numbers (nothing here needs quoting) for `$1::uuid[]`: one
 * parameter, so the statement text never varies with the batch size.
 */
const pgArray = (items: (string | number)[]) => `{${items.join(',')}}`;

export class GroupCommit<S extends BatchSend> {
	private queue: Queued<S>[] = [];
	private inFlight = 0;
	private readonly client: unknown;
	private readonly maxInFlight: number;
	/** Conversation and user ids locked by batches in flight (takeBatch keeps batches disjoint). */
	private readonly busy = new Set<string>();
	private scheduled = false;
	constructor(
		db: Db,
		private readonly members: ConversationMembers,
		private readonly options: GroupCommitOptions<S>
	) {
		// PGlite runs one statement at a time on this thread: a second batch would only queue
		// behind the first, holding sends that could have joined the next one.
		this.client = (db as unknown as { $client: unknown }).$client;
		this.maxInFlight = isPostgresJs(this.client) ? options.maxInFlight : 1;
	}

	submit(send: S): Promise<Committed> {
		return new Promise((resolve, reject) => {
			this.queue.push({ send, resolve, reject });
			this.schedule();
		});
	}

	/**
	 * Starts the next batch after the I/O that is already waiting has been read, so sends that
	 * arrived together leave together. This matters most on PGlite, whose statements run on this
	 * very thread: while one batch runs nothing else is read, and starting the next batch at the
	 * first arrival would write every message alone.
	 */
	private schedule() {
		if (this.scheduled || this.inFlight >= this.maxInFlight || this.queue.length === 0) return;
		this.scheduled = true;
		setImmediate(() => {
			this.scheduled = false;
			this.pump();
		});
	}

	private pump() {
		while (this.inFlight < this.maxInFlight && this.queue.length > 0) {
			const batch = this.takeBatch();
			// Everything waiting touches rows a batch in flight holds: its end schedules the next.
			if (batch.length === 0) return;
			const rows = this.rowsLockedBy(batch);
			for (const row of rows) this.busy.add(row);
			this.inFlight++;
			void this.run(batch).finally(() => {
				for (const row of rows) this.busy.delete(row);
				this.inFlight--;
				this.schedule();
			});
		}
	}

	/**
	 * The next batch: the oldest sends, or, while another batch is in flight, the oldest of those
	 * whose conversation and members it does not hold. So batches in flight together never wait on
	 * each other's row locks, and sends of one conversation still leave in arrival order (a send
	 * held back holds back every later one of its conversation, which is busy too).
	 */
	private takeBatch(): Queued<S>[] {
		if (this.inFlight === 0) return this.queue.splice(0, this.options.maxBatch);
		const taken: Queued<S>[] = [];
		const kept: Queued<S>[] = [];
		for (const item of this.queue) {
			if (taken.length < this.options.maxBatch && this.isFree(item.send)) taken.push(item);
			else kept.push(item);
		}
		this.queue = kept;
		return taken;
	}

	private isFree(send: S): boolean {
		if (this.busy.has(send.conversationId)) return false;
		// Members not read yet (the service reads them before a send gets here) cannot be checked;
		// the worst that follows is a wait on a lock, never a deadlock: every batch locks in id order.
		return (this.members.get(send.conversationId) ?? []).every((userId) => !this.busy.has(userId));
	}

	/** The conversations and users a batch will lock. */
	private rowsLockedBy(batch: Queued<S>[]): Set<string> {
		const rows = new Set<string>();
		for (const { send } of batch) {
			rows.add(send.conversationId);
			for (const userId of this.members.get(send.conversationId) ?? []) rows.add(userId);
		}
		return rows;
	}

	private async run(batch: Queued<S>[]): Promise<void> {
		let outcomes: Outcome[];
		let stored: Committed[] = [];
		try {
			outcomes = await this.write(batch.map((b) => b.send));
			stored = outcomes.flatMap((o) => (o.ok && o.value.message ? [o.value] : []));
		} catch (error) {
			// Unreachable: retrying each send alone would only wait for the same outage batch-size times.
			if (isUnavailable(error)) {
				for (const item of batch) item.reject(error);
				return;
			}
			outcomes = [];
			for (const { send } of batch) {
				try {
					outcomes.push({ ok: true, value: await this.options.single(send) });
				} catch (failure) {
					outcomes.push({ ok: false, error: failure });
				}
			}
		}
		// Committed: a failure to publish must not turn into a retry (the stream re-reads the log).
		try {
			if (stored.length) this.options.published(stored);
		} catch (error) {
			console.error('Publishing a committed batch failed:', error);
		}
		batch.forEach((item, i) => {
			const outcome = outcomes[i];
			if (outcome.ok) item.resolve(outcome.value);
			else item.reject(outcome.error);
		});
	}

	private async write(sends: S[]): Promise<Outcome[]> {
		const conversationIds = [...new Set(sends.map((s) => s.conversationId))].sort();
		await this.members.load(conversationIds);
		const userIds = [...new Set(conversationIds.flatMap((id) => this.members.get(id) ?? []))].sort();
		const ids = [...new Set(sends.map((s) => s.id))];
		let outcomes: Outcome[] = [];
		await this.transact(
			{
				// Conversations, then users, each in id order (UNION ALL runs its branches in turn),
				// then any of the batch's ids already stored, read under those locks.
				text: `select 'c' as kind, id, last_seq::bigint as n, null::text as stored
					from (select id, last_seq from conversations where id = any($1::uuid[]) order by id for no key update) c
					union all
					select 'u', id, event_seq, null
					from (select id, event_seq from users where id = any($2::uuid[]) order by id for no key update) u
					union all
					select 'm', id, null, json_build_array(conversation_id, seq, sender_id, client_id, client_seq, body,
						(extract(epoch from created_at) * 1000)::float8)::text
					from messages where id = any($3::uuid[])`,
				params: [pgArray(conversationIds), pgArray(userIds), pgArray(ids)]
			},
			(rows) => {
				const decided = this.decide(sends, rows as ReadRow[]);
				outcomes = decided.outcomes;
				return decided.write;
			}
		);
		return outcomes;
	}

	/** Assigns seqs and cursors under the locks just taken; returns the outcomes and the writes. */
	private decide(sends: S[], rows: ReadRow[]): { outcomes: Outcome[]; write: Statement | null } {
		const lastSeq = new Map<string, number>();
		const eventSeq = new Map<string, number>();
		const stored = new Map<string, MessageRow>();
		for (const row of rows) {
			if (row.kind === 'c') lastSeq.set(row.id, Number(row.n));
			else if (row.kind === 'u') eventSeq.set(row.id, Number(row.n));
			else stored.set(row.id, storedMessage(row.id, row.stored!));
		}
		const now = new Date();
		const outcomes: Outcome[] = [];
		const written: MessageRow[] = [];
		const events: { user_id: string; seq: number; conversation_id: string; message_id: string }[] = [];
		for (const send of sends) {
			const existing = stored.get(send.id);
			if (existing) {
				outcomes.push(attempt(() => ({ ack: this.options.resend(existing, send) })));
				continue;
			}
			const members = this.members.get(send.conversationId);
			const seq = lastSeq.get(send.conversationId);
			if (seq === undefined || !members?.includes(send.senderId)) {
				outcomes.push({ ok: false, error: NOT_FOUND() });
				continue;
			}
			const row: MessageRow = {
				id: send.id,
				conversationId: send.conversationId,
				seq: seq + 1,
				senderId: send.senderId,
				clientId: send.clientId,
				clientSeq: send.clientSeq,
				body: send.body,
				createdAt: now
			};
			lastSeq.set(send.conversationId, row.seq);
			// A second send of the same id in this batch is a resend of the first.
			stored.set(send.id, row);
			written.push(row);
			const appended = members.map((userId) => {
				const cursor = eventSeq.get(userId);
				if (cursor === undefined) throw new Error(`member ${userId} of ${send.conversationId} has no user row`);
				eventSeq.set(userId, cursor + 1);
				events.push({ user_id: userId, seq: cursor + 1, conversation_id: send.conversationId, message_id: send.id });
				return { userId, seq: cursor + 1 };
			});
			outcomes.push({ ok: true, value: { ack: toAck(row), message: toMessage(row), appended } });
		}
		return { outcomes, write: written.length ? writeStatement(now, written, events, lastSeq, eventSeq) : null };
	}

	/**
	 * BEGIN, the read, then `decide`'s write and COMMIT: on postgres.js the statements are pipelined,
	 * two round trips and four statements for the whole transaction, however large. Every statement
	 * costs a message each way and a wake-up of both processes, which on this kind of machine
	 * weighs more than the work the statement does.
	 */
	private async transact(read: Statement, decide: (rows: unknown[]) => Statement | null): Promise<void> {
		const client = this.client;
		if (isPostgresJs(client)) {
			const connection = await reserveWithin(client, RESERVE_TIMEOUT_MS);
			const run = (s: Statement) => connection.unsafe(s.text, s.params as never[], { prepare: true });
			try {
				const [, rows] = await Promise.all([connection.unsafe('begin'), run(read)]);
				const write = decide(rows);
				const settled = await Promise.allSettled([...(write ? [run(write)] : []), connection.unsafe('commit')]);
				// After a failed statement COMMIT rolls back: the batch is not stored.
				const failed = settled.find((r) => r.status === 'rejected');
				if (failed) throw (failed as PromiseRejectedResult).reason;
			} catch (error) {
				await connection.unsafe('rollback').catch(() => {});
				throw error;
			} finally {
				connection.release();
			}
			return;
		}
		const pglite = client as PGliteLike;
		await pglite.transaction(async (tx) => {
			const write = decide((await tx.query(read.text, read.params)).rows);
			if (write) await tx.query(write.text, write.params);
		});
	}
}

interface Statement {
	text: string;
	params: unknown[];
}

/** A locked conversation ('c', n = last seq), a locked user ('u', n = event cursor) or a stored message ('m'). */
interface ReadRow {
	kind: 'c' | 'u' | 'm';
	id: string;
	n: number | string | null;
	stored: string | null;
}

function storedMessage(id: string, stored: string): MessageRow {
	const [conversationId, seq, senderId, clientId, clientSeq, body, createdMs] = JSON.parse(stored) as [
		string,
		number,
		string,
		string,
		number,
		string,
		number
	];
	return { id, conversationId, seq, senderId, clientId, clientSeq, body, createdAt: new Date(createdMs) };
}

interface PGliteLike {
	transaction<T>(fn: (tx: { query(text: string, params?: unknown[]): Promise<{ rows: unknown[] }> }) => Promise<T>): Promise<T>;
}

interface PostgresJsLike {
	reserve(): Promise<{
		unsafe(text: string, params?: never[], options?: { prepare?: boolean }): Promise<unknown[]>;
		release(): void;
	}>;
}

/**
 * postgres.js waits for a free connection without end while the database is unreachable, and
 * this is the only writer of sends: one hung wait would hold every send behind it. Nothing is
 * sent before a connection is had, so giving up here is safe (the sends fail as unavailable and
 * their clients retry); a connection that turns up late is handed straight back.
 */
const RESERVE_TIMEOUT_MS = 5000;

async function reserveWithin(client: PostgresJsLike, ms: number) {
	let timer: ReturnType<typeof setTimeout> | undefined;
	let timedOut = false;
	const reserving = client.reserve();
	try {
		return await Promise.race([
			reserving,
			new Promise<never>((_, reject) => {
				timer = setTimeout(() => {
					timedOut = true;
					reject(Object.assign(new Error('No database connection within the time allowed'), { code: 'CONNECT_TIMEOUT' }));
				}, ms);
			})
		]);
	} finally {
		clearTimeout(timer);
		if (timedOut) reserving.then((late) => late.release(), () => {});
	}
}

function isPostgresJs(client: unknown): client is PostgresJsLike {
	return typeof (client as { reserve?: unknown }).reserve === 'function';
}

/**
 * The batch's rows in one statement: each table written by one part of it (WITH parts that write
 * run exactly once, referenced or not). JSON and array parameters keep the text the same for
 * every batch size, so it is prepared once. unnest, unlike json_to_recordset, tells the planner
 * how few rows it joins: against a recordset it guesses 100 and scans the whole table.
 */
function writeStatement(
	now: Date,
	written: MessageRow[],
	events: { user_id: string; seq: number; conversation_id: string; message_id: string }[],
	lastSeq: Map<string, number>,
	eventSeq: Map<string, number>
): Statement {
	const conversationIds = [...new Set(written.map((m) => m.conversationId))];
	const userIds = [...new Set(events.map((e) => e.user_id))];
	const rows = written.map((m) => ({
		id: m.id,
		conversation_id: m.conversationId,
		seq: m.seq,
		sender_id: m.senderId,
		client_id: m.clientId,
		client_seq: m.clientSeq,
		body: m.body
	}));
	return {
		text: `with new_messages as (
				insert into messages (id, conversation_id, seq, sender_id, client_id, client_seq, body, created_at)
				select id, conversation_id, seq, sender_id, client_id, client_seq, body, $7::timestamptz
				from json_to_recordset($1::text::json)
					as x(id uuid, conversation_id uuid, seq integer, sender_id uuid, client_id uuid, client_seq integer, body text)
			), new_events as (
				insert into user_events (user_id, seq, type, conversation_id, message_id)
				select user_id, seq, 'message', conversation_id, message_id
				from json_to_recordset($2::text::json) as x(user_id uuid, seq bigint, conversation_id uuid, message_id uuid)
			), cursors as (
				update users u set event_seq = x.seq
				from unnest($3::uuid[], $4::bigint[]) as x(id, seq) where u.id = x.id
			)
			update conversations c set last_seq = x.seq, last_activity_at = $7::timestamptz
			from unnest($5::uuid[], $6::integer[]) as x(id, seq) where c.id = x.id`,
		params: [
			JSON.stringify(rows),
			JSON.stringify(events),
			pgArray(userIds),
			pgArray(userIds.map((id) => eventSeq.get(id)!)),
			pgArray(conversationIds),
			pgArray(conversationIds.map((id) => lastSeq.get(id)!)),
			now.toISOString()
		]
	};
}

function attempt(fn: () => Committed): Outcome {
	try {
		return { ok: true, value: fn() };
	} catch (error) {
		return { ok: false, error };
	}
}

function toAck(row: MessageRow): Ack {
	return { id: row.id, conversationId: row.conversationId, seq: row.seq, createdAt: row.createdAt.toISOString() };
}
