/**
 * Group commit of sends and of changes to stored messages (edit, delete, react). Every item that
 * arrives while a transaction is writing joins the next one, so under load one transaction of a few round trips stores many messages, and with no load a
 * send is written at once, alone. Inside a batch the rules of a single send hold: conversations,
 * then users, are locked in id order (the order every other writer uses, so no deadlock); each
 * conversation's seq and each member's event cursor are handed out in arrival order under those
 * locks; an id already stored is answered as a resend; nothing is acknowledged before COMMIT
 * returns. The sequence buffer decides *when* a send may be committed: it hands over one client's
 * next sends as a run, in clientSeq order, and the next run only once this one is answered. A run
 * is never split between batches and the sends of a conversation leave in arrival order, so a
 * client's sends take seqs in clientSeq order; when a run's transaction fails, none of the run
 * after the send that failed is stored (see `run`), so a later send never lands without an earlier one.
 * This is the only writer of sends: a no-JavaScript form send is a batch of one whose clientSeq is
 * taken under the lock, and when a batch fails as a whole (say the same id raced in through another
 * instance) each of its sends is retried alone, in order, as a batch of one. So a database failure
 * is handled here only: every batch has a deadline, and a batch that fails or runs out of time
 * frees its rows and its slot and answers its sends `unavailable` (clients resend the same ids,
 * and a resend of a stored id is answered from the stored row). Nothing of a batch outlives it:
 * seqs and cursors are read under the locks by every batch.
 * A change takes the same path, so it has the same deadline, the same `unavailable` and the same
 * late publication or resync: under its conversation's lock its message row is locked (after the
 * conversations, before the users, the order every batch takes), read with its reactions, and the
 * change decided from the row as it is then (chat/change.ts). So changes apply in commit order
 * and the last commit wins; a change that changes nothing writes nothing and publishes nothing.
 * A link preview the server fetched after a commit is such a change too (op 'preview'), so it is
 * ordered, versioned and published like an edit, and refused if an edit or delete came first.
 */
import { AppError } from '$lib/errors';
import { isUnavailable } from '../failures';
import { metrics } from '../metrics';
import type { Ack, Message } from '$lib/types';
import type { BatchWriter, Statement } from '../db/batch';
import type { Appended } from './events';
import { NO_SUCH_MESSAGE, applyChange, reactionDiff, type MessageState, type StoredChange } from './change';
import type { ConversationMembers } from './members';
import { ASSIGNED_BY_COMMIT, COLUMN_NAMES, RECORD_DEFINITION, fromRecord, toRecord } from './message-columns';
import { groupReactions, type ReactionRow } from './reactions';
import { toAck, toMessage, type MessageRow } from './views';
import { toAttachment, type AttachmentRow } from '../attachments/views';
import { log } from '../log';

/**
 * A message as its sender gives it: every column but those the commit assigns, so a column added
 * to `messages` must be given by every send (the type checker lists the places).
 */
export type BatchSend = Omit<MessageRow, (typeof ASSIGNED_BY_COMMIT)[number] | 'clientSeq'> & {
	/** null: the next one for (conversation, client), taken under the conversation's lock (form sends). */
	clientSeq: number | null;
	/** Uploads the message takes, in order (none when left out); checked under their rows' locks. */
	attachments?: string[];
};

/** A change by `userId`; `conversationId` is the message's, read before, so the batch knows what it locks. */
export type BatchChange = StoredChange & { userId: string; conversationId: string };

/** A stored send; `message` and `appended` only when this call stored it (not for a resend). */
export interface Committed {
	ack: Ack;
	message?: Message;
	appended?: Appended[];
}

/** A decided change: the message as it now is; `appended` only when the change changed something. */
export interface ChangeCommitted {
	message: Message;
	appended?: Appended[];
}

/** One committed event to publish: a stored send or a change that changed something. */
export interface Published {
	type: 'message' | 'message_updated';
	message: Message;
	appended: Appended[];
	/** Attachments whose rows this commit deleted (with their message): their blobs go next. */
	discarded?: string[];
	/** The body before this commit, when a change changed it (the caller tells whether its link moved). */
	previousBody?: string;
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
	/** Called once per committed batch with what it stored or changed, in commit (seq and cursor) order. */
	published(events: Published[]): void;
	/**
	 * A batch whose COMMIT was sent but never answered may be stored: these users' streams must
	 * re-read their logs rather than wait for events that nobody will publish.
	 */
	uncertain(userIds: string[]): void;
}

/** What a batch is made of: sends and changes, in arrival order. */
type Item<S> = { kind: 'send'; send: S } | { kind: 'change'; change: BatchChange };

type Outcome = { ok: true; value: Committed | ChangeCommitted; event?: Published } | { ok: false; error: unknown };

interface Queued<S> {
	item: Item<S>;
	/** Shared by the sends of one run (submitRun): taken into one batch together, failed together. */
	run?: object;
	resolve(value: Committed | ChangeCommitted): void;
	reject(error: unknown): void;
}

const conversationOf = (item: Item<BatchSend>) => (item.kind === 'send' ? item.send.conversationId : item.change.conversationId);

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
		return this.enqueue({ kind: 'send', send }) as Promise<Committed>;
	}

	/**
	 * Sends of one client to one conversation, in clientSeq order: they join one batch in this order
	 * (a batch may grow past maxBatch rather than split them), and after a send whose transaction
	 * failed the rest of the run is answered `unavailable` unwritten. One promise per send.
	 */
	submitRun(sends: S[]): Promise<Committed>[] {
		const run = {};
		return sends.map((send) => this.enqueue({ kind: 'send', send }, run) as Promise<Committed>);
	}

	/** Applies a change in the next batch; resolves with the message as that batch left it. */
	change(change: BatchChange): Promise<ChangeCommitted> {
		return this.enqueue({ kind: 'change', change }) as Promise<ChangeCommitted>;
	}

	private enqueue(item: Item<S>, run?: object): Promise<Committed | ChangeCommitted> {
		return new Promise((resolve, reject) => {
			this.queue.push({ item, run, resolve, reject });
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
			metrics.batchesInFlight.inc();
			metrics.batchSize.observe(batch.length);
			void this.run(batch).finally(() => {
				for (const row of rows) this.busy.delete(row);
				this.inFlight--;
				metrics.batchesInFlight.dec();
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
		// A run is queued in one piece and its items are all free or all busy (one conversation).
		const continues = (item: Queued<S>, last: Queued<S> | undefined) => item.run !== undefined && item.run === last?.run;
		if (this.inFlight === 0) {
			let end = Math.min(this.options.maxBatch, this.queue.length);
			while (end < this.queue.length && continues(this.queue[end], this.queue[end - 1])) end++;
			return this.queue.splice(0, end);
		}
		const taken: Queued<S>[] = [];
		const kept: Queued<S>[] = [];
		for (const item of this.queue) {
			const room = taken.length < this.options.maxBatch || continues(item, taken.at(-1));
			if (room && this.isFree(item.item)) taken.push(item);
			else kept.push(item);
		}
		this.queue = kept;
		return taken;
	}

	private isFree(item: Item<S>): boolean {
		const conversationId = conversationOf(item);
		if (this.busy.has(conversationId)) return false;
		// Members not read yet (the service reads them before an item gets here) cannot be checked;
		// the worst that follows is a wait on a lock, never a deadlock: every batch locks in id order.
		return (this.members.get(conversationId) ?? []).every((userId) => !this.busy.has(userId));
	}

	/** The conversations and users a batch will lock. */
	private rowsLockedBy(batch: Queued<S>[]): Set<string> {
		const rows = new Set<string>();
		for (const { item } of batch) {
			rows.add(conversationOf(item));
			for (const userId of this.members.get(conversationOf(item)) ?? []) rows.add(userId);
		}
		return rows;
	}

	private async run(batch: Queued<S>[]): Promise<void> {
		let outcomes: Outcome[];
		try {
			outcomes = await this.attempt(batch.map((b) => b.item));
		} catch (error) {
			if (isUnavailable(error)) {
				// The database is away: sends queued meanwhile would only wait for the same failure.
				const answer = UNAVAILABLE(error);
				for (const item of [...batch, ...this.queue.splice(0)]) item.reject(answer);
				return;
			}
			// Something in the batch broke it (an id raced in elsewhere): each item alone, in order.
			// A run's send whose transaction fails leaves the rest of its run unwritten: they must
			// not be stored ahead of it (a refusal is no failure: the buffer moves past it).
			outcomes = [];
			const failedRuns = new Set<object>();
			for (const { item, run } of batch) {
				if (run && failedRuns.has(run)) {
					outcomes.push({ ok: false, error: UNAVAILABLE() });
					continue;
				}
				try {
					outcomes.push(...(await this.attempt([item], true)));
				} catch (failure) {
					if (run) failedRuns.add(run);
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
	 * One transaction for `items`, given up after the writer's deadline (a connection error then,
	 * so the caller answers `unavailable`). A transaction given up may still commit later: what it
	 * stored is published then, and when its outcome is never known, its users resync.
	 */
	private attempt(items: Item<S>[], retryRace = false): Promise<Outcome[]> {
		let committing = false;
		const work = this.write(items, () => (committing = true)).catch(async (error) => {
			// The same id stored meanwhile through another instance: the read now finds it.
			if (retryRace && isUniqueViolation(error)) return this.write(items, () => (committing = true));
			throw error;
		});
		let timedOut = false;
		const report = (outcomes: Outcome[]) => {
			const stored = outcomes.flatMap((o) => (o.ok && o.event ? [o.event] : []));
			// Committed: a failure to publish must not turn into a retry (the stream re-reads the log).
			try {
				if (stored.length) this.options.published(stored);
			} catch (error) {
				log.error({ err: error }, 'Publishing a committed batch failed');
			}
		};
		work.then(
			(outcomes) => timedOut && report(outcomes),
			(error) => {
				if (committing && isUnavailable(error)) this.options.uncertain(this.usersOf(items));
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
					const error = Object.assign(new Error(`A batch of ${items.length} items took longer than ${this.writer.deadlineMs} ms`), {
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

	private usersOf(items: Item<S>[]): string[] {
		return [
			...new Set(items.flatMap((i) => this.members.get(conversationOf(i)) ?? [i.kind === 'send' ? i.send.senderId : i.change.userId]))
		];
	}

	private async write(items: Item<S>[], committing: () => void): Promise<Outcome[]> {
		const sends = items.flatMap((i) => (i.kind === 'send' ? [i.send] : []));
		const changed = [...new Set(items.flatMap((i) => (i.kind === 'change' ? [i.change.messageId] : [])))].sort();
		const conversationIds = [...new Set(items.map(conversationOf))].sort();
		await this.members.load(conversationIds);
		const userIds = [...new Set(conversationIds.flatMap((id) => this.members.get(id) ?? []))].sort();
		// The sends' own ids (resends) and the messages they reply to.
		const ids = [...new Set(sends.flatMap((s) => (s.replyTo ? [s.id, s.replyTo] : [s.id])))];
		const unnumbered = [...new Map(sends.filter((s) => s.clientSeq === null).map((s) => [clientKey(s), s])).values()];
		// The uploads the sends take, and those of the messages resent or changed (a resend must name
		// the same ones; a change's answer shows them; a delete deletes them).
		const attachmentIds = [...new Set(sends.flatMap((s) => (s.attachments ?? []).map((id) => id.toLowerCase())))].sort();
		const owners = [...new Set([...sends.map((s) => s.id), ...changed])];
		let outcomes: Outcome[] = [];
		await this.writer.transact(
			{
				// Conversations, then changed messages, then users, each in id order (UNION ALL runs
				// its branches in turn), then the changed messages' reactions, any of the batch's ids
				// already stored and the last clientSeq of each form sender, read under those locks.
				text: `select 'c' as kind, id, last_seq::bigint as n, null::text as stored
					from (select id, last_seq from conversations where id = any($1::uuid[]) order by id for no key update) c
					union all
					select 'x', id, null, row_to_json(x)::text
					from (select * from messages where id = any($6::uuid[]) order by id for no key update) x
					union all
					select 'u', id, event_seq, case when deleted_at is null then null else 'deleted' end
					from (select id, event_seq, deleted_at from users where id = any($2::uuid[]) order by id for no key update) u
					union all
					select 'r', message_id, version::bigint, json_build_object('emoji', emoji, 'userId', user_id)::text
					from message_reactions where message_id = any($6::uuid[])
					union all
					select 'm', id, null, row_to_json(m)::text
					from messages m where id = any($3::uuid[])
					union all
					select 'a', id, null, row_to_json(a)::text
					from (select * from attachments where id = any($7::uuid[]) or message_id = any($8::uuid[]) order by id for no key update) a
					union all
					select 's', x.conversation_id, (select max(client_seq) from messages m
						where m.conversation_id = x.conversation_id and m.client_id = x.client_id)::bigint, x.client_id::text
					from unnest($4::uuid[], $5::uuid[]) as x(conversation_id, client_id)
					union all
					select 'b', blocker_id, null, blocked_id::text
					from blocks where blocker_id = any($2::uuid[]) and blocked_id = any($2::uuid[])`,
				params: [
					pgArray(conversationIds),
					pgArray(userIds),
					pgArray(ids),
					pgArray(unnumbered.map((s) => s.conversationId)),
					pgArray(unnumbered.map((s) => s.clientId)),
					pgArray(changed),
					pgArray(attachmentIds),
					pgArray(owners)
				]
			},
			(rows) => {
				const decided = this.decide(items, rows as ReadRow[]);
				outcomes = decided.outcomes;
				return decided.write;
			},
			committing
		);
		return outcomes;
	}

	/** Assigns seqs and cursors and decides changes under the locks just taken; returns the outcomes and the writes. */
	private decide(items: Item<S>[], rows: ReadRow[]): { outcomes: Outcome[]; write: Statement | null } {
		const lastSeq = new Map<string, number>();
		const eventSeq = new Map<string, number>();
		const stored = new Map<string, MessageRow>();
		const lastClientSeq = new Map<string, number>();
		const states = new Map<string, MessageState>();
		const files = new Map<string, AttachmentRow>();
		const blocked = new Set<string>();
		/** Deleted accounts (account-deletion.ts): nobody sends to them any more. */
		const deleted = new Set<string>();
		for (const row of rows) {
			if (row.kind === 'a') files.set(row.id, fromAttachmentRecord(JSON.parse(row.stored!)));
			else if (row.kind === 'c') lastSeq.set(row.id, Number(row.n));
			else if (row.kind === 'u') {
				eventSeq.set(row.id, Number(row.n));
				if (row.stored === 'deleted') deleted.add(row.id);
			} else if (row.kind === 's') lastClientSeq.set(`${row.id}:${row.stored}`, Number(row.n ?? 0));
			else if (row.kind === 'b') blocked.add(pairKey(row.id, row.stored!));
			else if (row.kind === 'r') {
				const { emoji, userId } = JSON.parse(row.stored!) as { emoji: string; userId: string };
				states.get(row.id)?.reactions.push({ messageId: row.id, emoji, userId, version: Number(row.n) });
			} else {
				const message = fromRecord(JSON.parse(row.stored!));
				stored.set(row.id, message);
				if (row.kind === 'x') states.set(row.id, { row: message, reactions: [] });
			}
		}
		const before = new Map([...states].map(([id, state]) => [id, state.reactions]));
		const changedIds = new Set<string>();
		const now = new Date();
		const outcomes: Outcome[] = [];
		const written: MessageRow[] = [];
		const attached: AttachmentRow[] = [];
		const discarded: string[] = [];
		/** A message with its reactions and attachments as the wire shows it. */
		const shown = (state: MessageState) =>
			toMessage(
				state.row,
				groupReactions(state.reactions).get(state.row.id) ?? [],
				state.row.deletedAt ? [] : attachmentsOf(files, state.row.id).map(toAttachment)
			);
		const events: LoggedEvent[] = [];
		/** Who wrote to whom in this batch: the write refuses to run if a block between them committed meanwhile. */
		const pairs: [string, string][] = [];
		/** The other members, when none blocks `userId` or is blocked by them (a block either way forbids). */
		const reachable = (userId: string, members: string[]) => {
			const others = members.filter((id) => id !== userId);
			if (others.some((id) => blocked.has(pairKey(userId, id)))) return null;
			for (const id of others) pairs.push([userId, id]);
			return others;
		};
		const append = (conversationId: string, messageId: string, type: Published['type'], members: string[]) =>
			members.map((userId) => {
				const cursor = eventSeq.get(userId);
				if (cursor === undefined) throw new Error(`member ${userId} of ${conversationId} has no user row`);
				eventSeq.set(userId, cursor + 1);
				events.push({ user_id: userId, seq: cursor + 1, type, conversation_id: conversationId, message_id: messageId });
				return { userId, seq: cursor + 1 };
			});
		for (const item of items) {
			if (item.kind === 'change') {
				const { change } = item;
				const state = states.get(change.messageId);
				const members = this.members.get(change.conversationId);
				if (!state || state.row.conversationId !== change.conversationId || !members?.includes(change.userId)) {
					outcomes.push({ ok: false, error: NO_SUCH_MESSAGE() });
					continue;
				}
				// A preview is the server's, of a message sent before any block.
				if (change.op !== 'preview' && !reachable(change.userId, members)) {
					outcomes.push({ ok: false, error: BLOCKED() });
					continue;
				}
				let next: MessageState | null;
				try {
					next = applyChange(state, change, change.userId, now);
				} catch (error) {
					outcomes.push({ ok: false, error });
					continue;
				}
				if (!next) {
					outcomes.push({ ok: true, value: { message: shown(state) } });
					continue;
				}
				states.set(change.messageId, next);
				changedIds.add(change.messageId);
				const appended = append(change.conversationId, change.messageId, 'message_updated', members);
				const message = shown(next);
				// A deleted message's files are gone with it: the rows in this commit, the blobs after.
				const gone = next.row.deletedAt && !state.row.deletedAt ? attachmentsOf(files, change.messageId).map((a) => a.id) : [];
				for (const id of gone) files.delete(id);
				discarded.push(...gone);
				const event: Published = {
					type: 'message_updated',
					message,
					appended,
					...(gone.length ? { discarded: gone } : {}),
					...(next.row.body !== state.row.body ? { previousBody: state.row.body } : {})
				};
				outcomes.push({ ok: true, value: { message, appended }, event });
				continue;
			}
			const send = item.send;
			const wanted = (send.attachments ?? []).map((id) => id.toLowerCase());
			const existing = stored.get(send.id);
			if (existing) {
				// A deleted message has lost its attachments: only what no change touches is compared then.
				const same = existing.deletedAt !== null || sameIds(attachmentsOf(files, existing.id), wanted);
				outcomes.push(same ? attempt(() => ({ ack: this.options.resend(existing, send) })) : { ok: false, error: OTHER_ATTACHMENTS() });
				continue;
			}
			const members = this.members.get(send.conversationId);
			const seq = lastSeq.get(send.conversationId);
			if (seq === undefined || !members?.includes(send.senderId)) {
				outcomes.push({ ok: false, error: NOT_FOUND() });
				continue;
			}
			if (!reachable(send.senderId, members)) {
				outcomes.push({ ok: false, error: BLOCKED() });
				continue;
			}
			// Under the user row's lock, which the deletion takes too: no send lands after it.
			if (members.some((id) => id !== send.senderId && deleted.has(id))) {
				outcomes.push({ ok: false, error: DELETED_PEER() });
				continue;
			}
			// Stored before this batch or earlier in it: the sequence buffer commits a client's sends in
			// order, so a reply to one's own message still held there finds it here.
			if (send.replyTo !== null && stored.get(send.replyTo)?.conversationId !== send.conversationId) {
				outcomes.push({ ok: false, error: NO_REPLY_TARGET() });
				continue;
			}
			const taken = wanted.map((id) => files.get(id));
			// An upload still under way (its row is there from its first byte) is not a file yet.
			const unusable = (a: AttachmentRow | undefined) =>
				!a || a.state !== 'ready' || a.uploaderId !== send.senderId || a.conversationId !== send.conversationId || a.messageId !== null;
			if (taken.some(unusable)) {
				outcomes.push({ ok: false, error: NO_ATTACHMENT() });
				continue;
			}
			let clientSeq = send.clientSeq;
			if (clientSeq === null) {
				clientSeq = (lastClientSeq.get(clientKey(send)) ?? 0) + 1;
				lastClientSeq.set(clientKey(send), clientSeq);
			}
			const { attachments: _named, ...content } = send;
			const row: MessageRow = {
				...content,
				clientSeq,
				seq: seq + 1,
				createdAt: now,
				editedAt: null,
				deletedAt: null,
				version: 0,
				preview: null
			};
			// Taken now, so a later send of this batch naming one of them is refused.
			taken.forEach((a, position) => {
				const file = { ...a!, messageId: send.id, position };
				files.set(file.id, file);
				attached.push(file);
			});
			lastSeq.set(send.conversationId, row.seq);
			// A second send of the same id in this batch is a resend of the first.
			stored.set(send.id, row);
			written.push(row);
			const appended = append(send.conversationId, send.id, 'message', members);
			const message = toMessage(row, [], attachmentsOf(files, row.id).map(toAttachment));
			outcomes.push({ ok: true, value: { ack: toAck(row), message, appended }, event: { type: 'message', message, appended } });
		}
		const changedRows = [...changedIds].map((id) => states.get(id)!);
		const diffs = changedRows.map((state) => reactionDiff(before.get(state.row.id) ?? [], state.reactions));
		const anything = written.length > 0 || changedRows.length > 0;
		return {
			outcomes,
			write: anything
				? writeStatement(now, {
						written,
						events,
						lastSeq,
						eventSeq,
						changed: changedRows.map((s) => s.row),
						upserted: diffs.flatMap((d) => d.upserted),
						removed: diffs.flatMap((d) => d.removed),
						attached,
						discarded,
						pairs
					})
				: null
		};
	}
}

/** Whether a stored message's attachments are these ids, in this order. */
const sameIds = (rows: AttachmentRow[], ids: string[]) => rows.length === ids.length && rows.every((a, i) => a.id === ids[i]);

const NO_ATTACHMENT = () =>
	new AppError('bad_request', 'Each attachment must be one you uploaded to this conversation and not part of another message.');
const OTHER_ATTACHMENTS = () => new AppError('conflict', 'This message id is already used by a message with other attachments.');

/** An attachments row as `row_to_json` gives it (snake case, timestamps as text). */
function fromAttachmentRecord(r: Record<string, unknown>): AttachmentRow {
	return {
		id: r.id as string,
		uploaderId: r.uploader_id as string,
		conversationId: (r.conversation_id as string | null) ?? null,
		messageId: (r.message_id as string | null) ?? null,
		position: (r.position as number | null) ?? null,
		name: r.name as string,
		type: r.type as string,
		size: Number(r.size),
		width: (r.width as number | null) ?? null,
		height: (r.height as number | null) ?? null,
		thumbnailSize: (r.thumbnail_size as number | null) ?? null,
		state: r.state as AttachmentRow['state'],
		received: (r.received as number | null) ?? null,
		createdAt: new Date(r.created_at as string)
	};
}

/** A message's attachments among those read, in their order. */
function attachmentsOf(rows: Map<string, AttachmentRow>, messageId: string): AttachmentRow[] {
	return [...rows.values()].filter((a) => a.messageId === messageId).sort((a, b) => (a.position ?? 0) - (b.position ?? 0));
}

const BLOCKED = () => new AppError('forbidden', 'You cannot send to this person.');
const DELETED_PEER = () => new AppError('forbidden', 'This account was deleted; it takes no more messages.');

/** One key for a pair whichever of the two blocks the other. */
const pairKey = (a: string, b: string) => (a < b ? `${a}:${b}` : `${b}:${a}`);

const NO_REPLY_TARGET = () => new AppError('bad_request', 'The message this one replies to is not in this conversation.');

/**
 * A locked conversation ('c', n = last seq), a locked changed message ('x'), a locked user ('u',
 * n = event cursor), a changed message's reaction ('r', n = its version, stored = emoji and user),
 * a stored message ('m'), a locked attachment ('a', stored = its row), a form sender's last
 * clientSeq ('s', id = conversation, stored = client id) or a block between two members ('b', id =
 * blocker, stored = blocked).
 */
interface ReadRow {
	kind: 'c' | 'x' | 'u' | 'r' | 'm' | 'a' | 's' | 'b';
	id: string;
	n: number | string | null;
	stored: string | null;
}

interface LoggedEvent {
	user_id: string;
	seq: number;
	type: Published['type'];
	conversation_id: string;
	message_id: string;
}

const clientKey = (send: BatchSend) => `${send.conversationId}:${send.clientId}`;

function isUniqueViolation(error: unknown): boolean {
	for (let e: unknown = error, i = 0; e && i < 5; i++) {
		if ((e as { code?: string }).code === '23505') return true;
		e = (e as { cause?: unknown }).cause;
	}
	return false;
}

interface Writes {
	written: MessageRow[];
	events: LoggedEvent[];
	lastSeq: Map<string, number>;
	eventSeq: Map<string, number>;
	/** Changed messages as the batch leaves them (one row each, however many changes it applied). */
	changed: MessageRow[];
	upserted: ReactionRow[];
	removed: ReactionRow[];
	/** Uploads the new messages took, with their message and position. */
	attached: AttachmentRow[];
	/** Attachments of messages this batch deleted. */
	discarded: string[];
	/** (writer, recipient) of every message written or changed. */
	pairs: [string, string][];
}

/**
 * The batch's rows in one statement: each table written by one part of it (WITH parts that write
 * run exactly once, referenced or not, and all see the snapshot from before the statement, which is
 * why each message is updated once and reactions come as a difference). JSON and array parameters
 * keep the text the same for every batch size, so it is prepared once. unnest, unlike
 * json_to_recordset, tells the planner how few rows it joins: against a recordset it guesses 100 and
 * scans the whole table, so the updates and deletes that join one also match an id array.
 */
function writeStatement(now: Date, writes: Writes): Statement {
	const { written, events, lastSeq, eventSeq, changed, upserted, removed, attached, discarded, pairs } = writes;
	const conversationIds = [...new Set(written.map((m) => m.conversationId))];
	const userIds = [...new Set(events.map((e) => e.user_id))];
	const changedIds = changed.map((m) => m.id);
	return {
		text: `with new_messages as (
				insert into messages (${COLUMN_NAMES})
				select ${COLUMN_NAMES} from json_to_recordset($1::text::json) as x(${RECORD_DEFINITION})
			), new_events as (
				insert into user_events (user_id, seq, type, conversation_id, message_id)
				select user_id, seq, type, conversation_id, message_id
				from json_to_recordset($2::text::json) as x(user_id uuid, seq bigint, type text, conversation_id uuid, message_id uuid)
			), unblocked as (
				-- A block takes both users' row locks. One that committed while this batch's read waited
				-- for those locks is not in the read's snapshot but is in this statement's: dividing by
				-- zero then fails the batch, and each item retried alone reads the block and is refused.
				-- So no write is acknowledged after the block that forbids it committed.
				select count(*) = 0 as ok from blocks b join unnest($16::uuid[], $17::uuid[]) as p(writer, recipient)
				on b.blocker_id = p.writer and b.blocked_id = p.recipient or b.blocker_id = p.recipient and b.blocked_id = p.writer
			), cursors as (
				update users u set event_seq = x.seq
				from unnest($3::uuid[], $4::bigint[]) as x(id, seq)
				where u.id = x.id and 1 / (select ok::int from unblocked) = 1
			), changed as (
				update messages m set body = x.body, edited_at = x.edited_at, deleted_at = x.deleted_at, version = x.version, preview = x.preview
				from json_to_recordset($8::text::json) as x(id uuid, body text, edited_at timestamptz, deleted_at timestamptz, version integer, preview jsonb)
				where m.id = x.id and m.id = any($11::uuid[])
			), unreacted as (
				delete from message_reactions r
				using json_to_recordset($9::text::json) as x(message_id uuid, emoji text, user_id uuid)
				where r.message_id = any($11::uuid[]) and r.message_id = x.message_id and r.emoji = x.emoji and r.user_id = x.user_id
			), reacted as (
				insert into message_reactions (message_id, emoji, user_id, version)
				select message_id, emoji, user_id, version
				from json_to_recordset($10::text::json) as x(message_id uuid, emoji text, user_id uuid, version integer)
				on conflict (message_id, emoji, user_id) do update set version = excluded.version
			), attached as (
				update attachments a set message_id = x.message_id, position = x.position
				from unnest($12::uuid[], $13::uuid[], $14::integer[]) as x(id, message_id, position) where a.id = x.id
			), discarded as (
				delete from attachments a where a.id = any($15::uuid[])
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
			now.toISOString(),
			JSON.stringify(
				changed.map((m) => ({
					id: m.id,
					body: m.body,
					edited_at: m.editedAt?.toISOString() ?? null,
					deleted_at: m.deletedAt?.toISOString() ?? null,
					version: m.version,
					preview: m.preview
				}))
			),
			JSON.stringify(removed.map((r) => ({ message_id: r.messageId, emoji: r.emoji, user_id: r.userId }))),
			JSON.stringify(upserted.map((r) => ({ message_id: r.messageId, emoji: r.emoji, user_id: r.userId, version: r.version }))),
			pgArray(changedIds),
			pgArray(attached.map((a) => a.id)),
			pgArray(attached.map((a) => a.messageId!)),
			pgArray(attached.map((a) => a.position!)),
			pgArray(discarded),
			pgArray(pairs.map((p) => p[0])),
			pgArray(pairs.map((p) => p[1]))
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
