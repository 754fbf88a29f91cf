/**
 * The outbox: every message typed is written to Dexie first (status `sending`) and then
 * delivered by the scheduler, in clientSeq order per conversation, until the server acks it.
 *
 * Retry budget: an attempt is one send that ended without an ack — no ack within
 * ACK_TIMEOUT_MS, or a retriable error frame (rate_limited, unavailable, internal, …). Being
 * offline or losing the connection costs no attempt: in-flight sends are simply re-sent on
 * the next connection. Between attempts the item waits a full-jitter backoff (1 s doubling to
 * a 30 s cap). After MAX_ATTEMPTS (8, i.e. at most about 2½ minutes of trying on a live
 * connection) or at once on a permanent error (protocol.ts's ERRORS with `retry: false`) the message is `failed`, with retry and delete in the UI. A failed message is
 * skipped, so it never holds back the ones queued after it.
 */
import { isPermanent, type ErrorCode } from '$lib/protocol';
import type { Ack } from '$lib/types';
import { sendOf, type MessageContent, type SendInput } from '$lib/schemas';
import { DEFAULT_BACKOFF, fullJitter, type BackoffPolicy } from './backoff';
import { ensureClientId, META, uuid, type DuetDb, type LocalMessage } from './db';

export const MAX_ATTEMPTS = 8;
export const ACK_TIMEOUT_MS = 15_000;

/**
 * Stores a new message and its outbox item in one transaction. The clientSeq counter lives in
 * the same database, so two tabs (two connections) allocating at once still get distinct numbers.
 */
export async function enqueueMessage(
	db: DuetDb,
	input: MessageContent & { conversationId: string; senderId: string; id?: string },
	now: () => number = Date.now
): Promise<LocalMessage> {
	const clientId = await ensureClientId(db);
	return db.transaction('rw', [db.meta, db.messages, db.outbox], async () => {
		const key = META.clientSeq(input.conversationId);
		const clientSeq = (((await db.meta.get(key))?.value as number | undefined) ?? 0) + 1;
		await db.meta.put({ key, value: clientSeq });
		const message: LocalMessage = {
			...input,
			id: input.id ?? uuid(),
			clientId,
			clientSeq,
			createdAt: new Date(now()).toISOString(),
			status: 'sending'
		};
		await db.messages.add(message);
		await db.outbox.add({
			id: message.id,
			conversationId: input.conversationId,
			clientSeq,
			state: 'queued',
			attempts: 0,
			nextAttemptAt: 0
		});
		return message;
	});
}

/** Applies an ack: the optimistic row becomes the confirmed one and leaves the outbox. */
export async function applyAck(db: DuetDb, ack: Ack): Promise<void> {
	await db.transaction('rw', [db.messages, db.outbox], async () => {
		await db.messages.update(ack.id, { seq: ack.seq, createdAt: ack.createdAt, status: 'sent' });
		await db.outbox.delete(ack.id);
	});
}

/** The user asked to try a failed message again: a fresh budget, due now. */
export async function retryMessage(db: DuetDb, id: string): Promise<void> {
	await db.transaction('rw', [db.messages, db.outbox], async () => {
		const item = await db.outbox.get(id);
		if (!item) return;
		await db.outbox.put({ ...item, state: 'queued', attempts: 0, nextAttemptAt: 0, lastError: undefined });
		await db.messages.update(id, { status: 'sending' });
	});
}

/** Deletes an unsent message; a message the server already stored cannot be unsent. */
export async function deleteUnsent(db: DuetDb, id: string): Promise<void> {
	await db.transaction('rw', [db.messages, db.outbox], async () => {
		const row = await db.messages.get(id);
		if (row && row.status === 'sent') return;
		await db.outbox.delete(id);
		await db.messages.delete(id);
	});
}

export interface SchedulerDeps {
	db: DuetDb;
	/** Writes a send frame to the live connection; false when there is none. */
	send(frame: SendInput): boolean;
	now?: () => number;
	random?: () => number;
	/** Asks to be run again at (or after) the given epoch ms; the newest request wins. */
	wakeAt?: (atMs: number | null) => void;
	policy?: BackoffPolicy;
	maxAttempts?: number;
	ackTimeoutMs?: number;
}

/**
 * Decides what to send and when. It holds no state that matters across reloads: the queue is
 * the outbox table; only which sends are in flight on the current connection is in memory.
 */
export class OutboxScheduler {
	private readonly db: DuetDb;
	private readonly deps: SchedulerDeps;
	private readonly now: () => number;
	private readonly random: () => number;
	private readonly maxAttempts: number;
	private readonly ackTimeoutMs: number;
	/** id → deadline for the ack of the send in flight. */
	private readonly inflight = new Map<string, number>();
	/** Acked ids whose outbox row may not be deleted yet when a pass reads the table. */
	private readonly done = new Set<string>();
	private connected = false;
	private running: Promise<void> | null = null;
	private rerun = false;

	constructor(deps: SchedulerDeps) {
		this.deps = deps;
		this.db = deps.db;
		this.now = deps.now ?? Date.now;
		this.random = deps.random ?? Math.random;
		this.maxAttempts = deps.maxAttempts ?? MAX_ATTEMPTS;
		this.ackTimeoutMs = deps.ackTimeoutMs ?? ACK_TIMEOUT_MS;
	}

	/** A new connection sends everything queued at once; a lost one forgets what was in flight. */
	setConnected(connected: boolean): Promise<void> {
		this.connected = connected;
		this.inflight.clear();
		if (!connected) {
			this.deps.wakeAt?.(null);
			return Promise.resolve();
		}
		return this.db.outbox
			.where('state')
			.equals('queued')
			.modify({ nextAttemptAt: 0 })
			.then(() => this.run());
	}

	async onAck(ack: Ack): Promise<void> {
		this.inflight.delete(ack.id);
		this.done.add(ack.id);
		await applyAck(this.db, ack);
		this.done.delete(ack.id);
	}

	/** An error frame that names one of our sends. */
	async onError(id: string, code: ErrorCode, message: string, retryAfterSeconds?: number): Promise<void> {
		if (!this.inflight.delete(id)) return;
		if (isPermanent(code)) await this.markFailed(id, message);
		else await this.recordFailure(id, message, retryAfterSeconds);
		await this.run();
	}

	/** One pass: time out overdue sends, send what is due, and ask to be woken for the next. */
	run(): Promise<void> {
		if (this.running) {
			this.rerun = true;
			return this.running;
		}
		this.running = (async () => {
			try {
				do {
					this.rerun = false;
					await this.pass();
				} while (this.rerun);
			} finally {
				this.running = null;
			}
		})();
		return this.running;
	}

	private async pass(): Promise<void> {
		const now = this.now();
		for (const [id, deadline] of [...this.inflight]) {
			if (deadline <= now) {
				this.inflight.delete(id);
				await this.recordFailure(id, 'The server did not confirm the message in time.');
			}
		}
		if (!this.connected) return;

		const items = await this.db.outbox.orderBy('[conversationId+clientSeq]').toArray();
		const blocked = new Set<string>();
		let next = Infinity;
		for (const item of items) {
			if (item.state !== 'queued' || this.done.has(item.id)) continue;
			const deadline = this.inflight.get(item.id);
			if (deadline !== undefined) {
				next = Math.min(next, deadline);
				continue;
			}
			// A later message never overtakes an earlier one that is waiting out its backoff.
			if (blocked.has(item.conversationId)) continue;
			if (item.nextAttemptAt > now) {
				blocked.add(item.conversationId);
				next = Math.min(next, item.nextAttemptAt);
				continue;
			}
			const message = await this.db.messages.get(item.id);
			if (!message) {
				await this.db.outbox.delete(item.id);
				continue;
			}
			const sent = this.deps.send(sendOf(message));
			if (!sent) {
				this.connected = false;
				this.inflight.clear();
				this.deps.wakeAt?.(null);
				return;
			}
			this.inflight.set(item.id, now + this.ackTimeoutMs);
			next = Math.min(next, now + this.ackTimeoutMs);
		}
		this.deps.wakeAt?.(Number.isFinite(next) ? next : null);
	}

	private async recordFailure(id: string, error: string, retryAfterSeconds?: number): Promise<void> {
		const item = await this.db.outbox.get(id);
		if (!item || item.state !== 'queued') return;
		const attempts = item.attempts + 1;
		if (attempts >= this.maxAttempts) {
			await this.markFailed(id, error);
			return;
		}
		const wait = Math.max(fullJitter(attempts - 1, this.deps.policy ?? DEFAULT_BACKOFF, this.random), (retryAfterSeconds ?? 0) * 1000);
		await this.db.outbox.update(id, { attempts, nextAttemptAt: this.now() + wait, lastError: error });
	}

	private async markFailed(id: string, error: string): Promise<void> {
		await this.db.transaction('rw', [this.db.messages, this.db.outbox], async () => {
			const item = await this.db.outbox.get(id);
			if (!item) return;
			await this.db.outbox.update(id, { state: 'failed', attempts: item.attempts + 1, lastError: error });
			await this.db.messages.update(id, { status: 'failed' });
		});
	}
}
