/**
 * Delivery of queued writes until the server answers them: the one retry policy of the client,
 * shared by the outbox (sends) and the change queue (edits, deletes, reactions).
 *
 * Retry budget: an attempt is one hand-off that ended without an answer — none within
 * ACK_TIMEOUT_MS, or a retriable error (rate_limited, unavailable, internal, …). Being offline or
 * losing the connection costs no attempt: what was in flight is simply handed off again on the next
 * connection. Between attempts an item waits a full-jitter backoff (1 s doubling to a 30 s cap).
 * After MAX_ATTEMPTS (8, about 2½ minutes of trying on a live connection) or at once on a permanent
 * error (protocol.ts's ERRORS with `retry: false`) the item is `failed` and the queue decides what
 * that means to the user. Items leave in lanes (a conversation's sends, a message's changes): a later
 * item never overtakes an earlier one of its lane that is waiting, and a failed one never holds
 * back the rest.
 */
import { isPermanent, type ErrorCode } from '$lib/protocol';
import { DEFAULT_BACKOFF, fullJitter, type BackoffPolicy } from './backoff';

export const MAX_ATTEMPTS = 8;
export const ACK_TIMEOUT_MS = 15_000;

export interface Deliverable {
	/** What the server's answer names: a send's message id, a change's frame id. */
	id: string;
	state: 'queued' | 'failed';
	/** Attempts that ended without an answer (timeouts and retriable errors), not disconnects. */
	attempts: number;
	/** Epoch ms before which the scheduler leaves the item alone (backoff). */
	nextAttemptAt: number;
	lastError?: string;
}

/** Where a scheduler's items live (a Dexie table) and what handing one off means. */
export interface DeliveryQueue<I extends Deliverable, F> {
	/** Queued and failed items, in the order they must leave. */
	items(): Promise<I[]>;
	get(id: string): Promise<I | undefined>;
	lane(item: I): string;
	/**
	 * Whether the lane may have several items in flight at once (sends: the server orders them by
	 * clientSeq) or only one (changes: each must be answered before the next is sent).
	 */
	readonly pipelined: boolean;
	/** The frame that hands `item` off; 'wait' while it may not leave yet (holds its lane); null if obsolete (dropped). */
	frame(item: I): Promise<F | 'wait' | null>;
	update(id: string, patch: Partial<Deliverable>): Promise<void>;
	/** Every queued item is due now (a new connection). */
	dueNow(): Promise<void>;
	drop(id: string): Promise<void>;
	/** Gave up on `id` for good: the queue marks it failed and shows why. */
	fail(id: string, error: string): Promise<void>;
}

export interface DeliveryDeps<F> {
	/** Writes a frame to the live connection; false when there is none. */
	send(frame: F): boolean;
	now?: () => number;
	random?: () => number;
	/** Asks to be run again at (or after) the given epoch ms; the newest request wins. */
	wakeAt?: (atMs: number | null) => void;
	policy?: BackoffPolicy;
	maxAttempts?: number;
	ackTimeoutMs?: number;
}

/**
 * Decides what to hand off and when. It holds no state that matters across reloads: the queue is
 * a table; only what is in flight on the current connection is in memory.
 */
export class DeliveryScheduler<I extends Deliverable, F> {
	protected readonly now: () => number;
	private readonly random: () => number;
	private readonly maxAttempts: number;
	private readonly ackTimeoutMs: number;
	/** id → deadline for the answer to the hand-off in flight. */
	private readonly inflight = new Map<string, number>();
	/** Answered ids whose row may not be gone yet when a pass reads the table. */
	private readonly done = new Set<string>();
	private connected = false;
	private running: Promise<void> | null = null;
	private rerun = false;

	constructor(
		private readonly queue: DeliveryQueue<I, F>,
		private readonly deps: DeliveryDeps<F>
	) {
		this.now = deps.now ?? Date.now;
		this.random = deps.random ?? Math.random;
		this.maxAttempts = deps.maxAttempts ?? MAX_ATTEMPTS;
		this.ackTimeoutMs = deps.ackTimeoutMs ?? ACK_TIMEOUT_MS;
	}

	/** A new connection hands off everything queued at once; a lost one forgets what was in flight. */
	setConnected(connected: boolean): Promise<void> {
		this.connected = connected;
		this.inflight.clear();
		if (!connected) {
			this.deps.wakeAt?.(null);
			return Promise.resolve();
		}
		return this.queue.dueNow().then(() => this.run());
	}

	/** The server answered `id`: `apply` stores the answer, then the next of its lane may go. */
	protected async answered(id: string, apply: () => Promise<void>): Promise<void> {
		this.inflight.delete(id);
		this.done.add(id);
		try {
			await apply();
		} finally {
			this.done.delete(id);
		}
		if (!this.queue.pipelined) await this.run();
	}

	/** The hand-off of `id` went unanswered past its deadline; whatever still carries it may stop. */
	protected expired(id: string): void {
		void id;
	}

	/** An error answer that names one of our items. */
	async onError(id: string, code: ErrorCode, message: string, retryAfterSeconds?: number): Promise<void> {
		if (!this.inflight.delete(id)) return;
		if (isPermanent(code)) await this.queue.fail(id, message);
		else await this.recordFailure(id, message, retryAfterSeconds);
		await this.run();
	}

	/** One pass: time out overdue hand-offs, hand off what is due, and ask to be woken for the next. */
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
				this.expired(id);
				await this.recordFailure(id, 'The server did not confirm it in time.');
			}
		}
		if (!this.connected) return;

		const blocked = new Set<string>();
		let next = Infinity;
		for (const item of await this.queue.items()) {
			if (item.state !== 'queued' || this.done.has(item.id)) continue;
			const lane = this.queue.lane(item);
			const deadline = this.inflight.get(item.id);
			if (deadline !== undefined) {
				if (!this.queue.pipelined) blocked.add(lane);
				next = Math.min(next, deadline);
				continue;
			}
			if (blocked.has(lane)) continue;
			if (item.nextAttemptAt > now) {
				blocked.add(lane);
				next = Math.min(next, item.nextAttemptAt);
				continue;
			}
			const frame = await this.queue.frame(item);
			if (frame === null) {
				await this.queue.drop(item.id);
				continue;
			}
			if (frame === 'wait') {
				blocked.add(lane);
				continue;
			}
			if (!this.deps.send(frame)) {
				this.connected = false;
				this.inflight.clear();
				this.deps.wakeAt?.(null);
				return;
			}
			this.inflight.set(item.id, now + this.ackTimeoutMs);
			if (!this.queue.pipelined) blocked.add(lane);
			next = Math.min(next, now + this.ackTimeoutMs);
		}
		this.deps.wakeAt?.(Number.isFinite(next) ? next : null);
	}

	private async recordFailure(id: string, error: string, retryAfterSeconds?: number): Promise<void> {
		const item = await this.queue.get(id);
		if (!item || item.state !== 'queued') return;
		const attempts = item.attempts + 1;
		if (attempts >= this.maxAttempts) {
			await this.queue.fail(id, error);
			return;
		}
		const wait = Math.max(fullJitter(attempts - 1, this.deps.policy ?? DEFAULT_BACKOFF, this.random), (retryAfterSeconds ?? 0) * 1000);
		await this.queue.update(id, { attempts, nextAttemptAt: this.now() + wait, lastError: error });
	}
}
