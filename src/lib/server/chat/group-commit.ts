/**
 * Group commit of sends. Every send that arrives while a transaction is writing joins the next
 * one, so under load one transaction of a few round trips stores many messages, and with no load a
 * send is written at once, alone. Inside a batch the rules of a single send hold: conversations,
 * then users, are locked in id order (the order every other writer uses, so no deadlock); each
 * conversation's seq and each member's event cursor are handed out in arrival order under those
 * locks; an id already stored is answered as a resend; nothing is acknowledged before COMMIT
 * returns. The sequence buffer still decides *when* a send may be committed (one per client and
 * conversation at a time, in clientSeq order), so a batch never reorders one client's sends.
 * This is the only writer of sends: a no-JavaScript form send is a batch of one whose clientSeq is
 * taken under the lock, and when a batch fails as a whole (say the same id raced in through another
 * instance) each of its sends is retried alone, in order, as a batch of one. So a database failure
 * is handled here only: every batch has a deadline, and a batch that fails or runs out of time
 * frees its rows and its slot and answers its sends `unavailable` (clients resend the same ids,
 * and a resend of a stored id is answered from the stored row). Nothing of a batch outlives it:
 * seqs and cursors are read under the locks by every batch.
 */
import { AppError } from '$lib/errors';
import { isUnavailable } from '../failures';
import type { Ack, Message } from '$lib/types';
import type { BatchWriter, Statement } from '../db/batch';
import type { Appended } from './events';
import type { ConversationMembers } from './members';
import { COLUMN_NAMES, RECORD_DEFINITION, fromRecord, toRecord } from './message-columns';
import { toAck, toMessage, type MessageRow } from './views';

/**
 * A message as its sender gives it: every column but those the commit assigns, so a column added
 * to `messages` must be given by every send (the type checker lists the places).
 */
export type BatchSend = Omit<MessageRow, 'seq' | 'createdAt' | 'clientSeq'> & {
	/** null: the next one for (conversation, client), taken under the conversation's lock (form sends). */
	clientSeq: number | null;
};

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
	/** Answers a send whose id is already stored (same ack, or a conflict). */
	resend(existing: MessageRow, send: S): Ack;
	/** Called once per committed batch with what it stored, in commit (seq and cursor) order. */
	published(stored: Committed[]): void;
	/**
	 * A batch whose COMMIT was sent but never answered may be stored: these users' streams must
	 * re-read their logs rather than wait for events that nobody will publish.
	 */
	uncertain(userIds: string[]): void;
}

type Outcome = { ok: true; value: Committed } | { ok: false; error: unknown };

interface Queued<S> {
	send: S;
	resolve(value: Committed): void;
	reject(error: unknown): void;
}

const NOT_FOUND = () => new AppError('not_found', 'There is no such conversation.');
const UNAVAILABLE = (cause?: unknown) =>
	new AppError('unavailable', 'The service is briefly unavailable; try again in a moment.', { cause });

/**
 * An array literal of uuids or numbers (nothing here needs quoting) for `$1::uuid[]`: one
 * parameter, so the statement text never varies with the batch size.
 */
const pgArray = (items: (string | number)[]) => `{${items.join(',')}}`;

export class GroupCommit<S extends BatchSend> {
	private queue: Queued<S>[] = [];
	private inFlight = 0;
	private readonly maxInFlight: number;
	/** Conversation and user ids locked by batches in flight (takeBatch keeps batches disjoint). */
	private readonly busy = new Set<string>();
	private scheduled = false;
	constructor(
		private readonly writer: BatchWriter,
		private readonly members: ConversationMembers,
		private readonly options: GroupCommitOptions<S>
	) {
		// PGlite runs one statement at a time on this thread: a second batch would only queue
		// behind the first, holding sends that could have joined the next one.
		this.maxInFlight = writer.parallel ? options.maxInFlight : 1;
	}

	/** False while the database is known to be away: a send submitted now could only fail. */
	get reachable(): boolean {
		return this.writer.reachable;
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
		try {
			outcomes = await this.attempt(batch.map((b) => b.send));
		} catch (error) {
			if (isUnavailable(error)) {
				// The database is away: sends queued meanwhile would only wait for the same failure.
				const answer = UNAVAILABLE(error);
				for (const item of [...batch, ...this.queue.splice(0)]) item.reject(answer);
				return;
			}
			// Something in the batch broke it (an id raced in elsewhere): each send alone, in order.
			outcomes = [];
			for (const { send } of batch) {
				try {
					outcomes.push(...(await this.attempt([send], true)));
				} catch (failure) {
					outcomes.push({ ok: false, error: isUnavailable(failure) ? UNAVAILABLE(failure) : failure });
				}
			}
		}
		batch.forEach((item, i) => {
			const outcome = outcomes[i];
			if (outcome.ok) item.resolve(outcome.value);
			else item.reject(outcome.error);
		});
	}

	/**
	 * One transaction for `sends`, given up after the writer's deadline (a connection error then,
	 * so the caller answers `unavailable`). A transaction given up may still commit later: what it
	 * stored is published then, and when its outcome is never known, its users resync.
	 */
	private attempt(sends: S[], retryRace = false): Promise<Outcome[]> {
		let committing = false;
		const work = this.write(sends, () => (committing = true)).catch(async (error) => {
			// The same id stored meanwhile through another instance: the read now finds it.
			if (retryRace && isUniqueViolation(error)) return this.write(sends, () => (committing = true));
			throw error;
		});
		let timedOut = false;
		const report = (outcomes: Outcome[]) => {
			const stored = outcomes.flatMap((o) => (o.ok && o.value.message ? [o.value] : []));
			// Committed: a failure to publish must not turn into a retry (the stream re-reads the log).
			try {
				if (stored.length) this.options.published(stored);
			} catch (error) {
				console.error('Publishing a committed batch failed:', error);
			}
		};
		work.then(
			(outcomes) => timedOut && report(outcomes),
			(error) => {
				if (committing && isUnavailable(error)) this.options.uncertain(this.usersOf(sends));
			}
		);
		let timer: ReturnType<typeof setTimeout> | undefined;
		let unwatch = () => {};
		return Promise.race([
			work.then((outcomes) => {
				if (!timedOut) report(outcomes);
				return outcomes;
			}),
			new Promise<never>((_, reject) => {
				const giveUp = (error: Error) => {
					timedOut = true;
					reject(error);
				};
				timer = setTimeout(() => {
					const error = Object.assign(new Error(`A batch of ${sends.length} sends took longer than ${this.writer.deadlineMs} ms`), {
						code: 'ETIMEDOUT'
					});
					giveUp(error);
					this.writer.gaveUp(error);
				}, this.writer.deadlineMs);
				// Found away by any other query or batch: this one would only wait out its deadline.
				unwatch = this.writer.watchAway(giveUp);
			})
		]).finally(() => {
			clearTimeout(timer);
			unwatch();
		});
	}

	private usersOf(sends: S[]): string[] {
		return [...new Set(sends.flatMap((s) => this.members.get(s.conversationId) ?? [s.senderId]))];
	}

	private async write(sends: S[], committing: () => void): Promise<Outcome[]> {
		const conversationIds = [...new Set(sends.map((s) => s.conversationId))].sort();
		await this.members.load(conversationIds);
		const userIds = [...new Set(conversationIds.flatMap((id) => this.members.get(id) ?? []))].sort();
		const ids = [...new Set(sends.map((s) => s.id))];
		const unnumbered = [...new Map(sends.filter((s) => s.clientSeq === null).map((s) => [clientKey(s), s])).values()];
		let outcomes: Outcome[] = [];
		await this.writer.transact(
			{
				// Conversations, then users, each in id order (UNION ALL runs its branches in turn),
				// then any of the batch's ids already stored and the last clientSeq of each form
				// sender, read under those locks.
				text: `select 'c' as kind, id, last_seq::bigint as n, null::text as stored
					from (select id, last_seq from conversations where id = any($1::uuid[]) order by id for no key update) c
					union all
					select 'u', id, event_seq, null
					from (select id, event_seq from users where id = any($2::uuid[]) order by id for no key update) u
					union all
					select 'm', id, null, row_to_json(m)::text
					from messages m where id = any($3::uuid[])
					union all
					select 's', x.conversation_id, (select max(client_seq) from messages m
						where m.conversation_id = x.conversation_id and m.client_id = x.client_id)::bigint, x.client_id::text
					from unnest($4::uuid[], $5::uuid[]) as x(conversation_id, client_id)`,
				params: [
					pgArray(conversationIds),
					pgArray(userIds),
					pgArray(ids),
					pgArray(unnumbered.map((s) => s.conversationId)),
					pgArray(unnumbered.map((s) => s.clientId))
				]
			},
			(rows) => {
				const decided = this.decide(sends, rows as ReadRow[]);
				outcomes = decided.outcomes;
				return decided.write;
			},
			committing
		);
		return outcomes;
	}

	/** Assigns seqs and cursors under the locks just taken; returns the outcomes and the writes. */
	private decide(sends: S[], rows: ReadRow[]): { outcomes: Outcome[]; write: Statement | null } {
		const lastSeq = new Map<string, number>();
		const eventSeq = new Map<string, number>();
		const stored = new Map<string, MessageRow>();
		const lastClientSeq = new Map<string, number>();
		for (const row of rows) {
			if (row.kind === 'c') lastSeq.set(row.id, Number(row.n));
			else if (row.kind === 'u') eventSeq.set(row.id, Number(row.n));
			else if (row.kind === 's') lastClientSeq.set(`${row.id}:${row.stored}`, Number(row.n ?? 0));
			else stored.set(row.id, fromRecord(JSON.parse(row.stored!)));
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
			let clientSeq = send.clientSeq;
			if (clientSeq === null) {
				clientSeq = (lastClientSeq.get(clientKey(send)) ?? 0) + 1;
				lastClientSeq.set(clientKey(send), clientSeq);
			}
			const row: MessageRow = { ...send, clientSeq, seq: seq + 1, createdAt: now };
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
}

/**
 * A locked conversation ('c', n = last seq), a locked user ('u', n = event cursor), a stored
 * message ('m') or a form sender's last clientSeq ('s', id = conversation, stored = client id).
 */
interface ReadRow {
	kind: 'c' | 'u' | 'm' | 's';
	id: string;
	n: number | string | null;
	stored: string | null;
}

const clientKey = (send: BatchSend) => `${send.conversationId}:${send.clientId}`;

function isUniqueViolation(error: unknown): boolean {
	for (let e: unknown = error, i = 0; e && i < 5; i++) {
		if ((e as { code?: string }).code === '23505') return true;
		e = (e as { cause?: unknown }).cause;
	}
	return false;
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
	return {
		text: `with new_messages as (
				insert into messages (${COLUMN_NAMES})
				select ${COLUMN_NAMES} from json_to_recordset($1::text::json) as x(${RECORD_DEFINITION})
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
			JSON.stringify(written.map(toRecord)),
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
