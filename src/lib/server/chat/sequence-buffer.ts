/**
 * Commits one client's sends to one conversation in clientSeq order. A send that arrives ahead of
 * a gap is held until the gap fills or GAP_TIMEOUT_MS passes; then what is held is committed in
 * order and a straggler is still stored later (never dropped). "Next expected" comes from the
 * database, so a restart or another instance committing part of the sequence neither stalls nor
 * reorders: whenever a send looks early, the database is asked again before holding it.
 * The sends that are next in line leave as a run: all that are ready while the key's previous run
 * commits go together, in clientSeq order, into one batch (GroupCommit.submitRun), so a chatty
 * client is bound by batch size rather than commit latency. One run per key at a time: a run is
 * handed over only once the one before it is answered, and when a send of a run fails for now, the
 * rest of its run fails with it and what came after it waits for its resend like any early send.
 */
import { AppError } from '$lib/errors';
import type { Ack } from '$lib/types';
import { isUnavailable } from '../failures';
import { metrics } from '../metrics';
import { log } from '../log';

export interface BufferedSend {
	id: string;
	conversationId: string;
	clientId: string;
	clientSeq: number;
}

export interface SequenceBufferOptions<S extends BufferedSend> {
	gapTimeoutMs: number;
	/** Held sends per (conversation, client) before new early sends are refused. */
	maxHeldPerKey: number;
	/** Held sends in the whole process before new early sends are refused. */
	maxHeldTotal: number;
	/** How often a held gap re-reads the database, in case another instance filled it. */
	recheckMs?: number;
	/** The next clientSeq the database expects for this key (last committed + 1, or 1). */
	nextExpected(conversationId: string, clientId: string): Promise<number>;
	/** Most sends of one key in one run. */
	maxRun: number;
	/**
	 * Most bytes of one run (by `sizeOf`; the first send always goes): a run joins one transaction
	 * whole, and that transaction's statements must finish inside the database's deadline even on a
	 * loaded host, so one chatty client's backlog is cut into runs of bounded work.
	 */
	maxRunBytes?: number;
	sizeOf?(send: S): number;
	/**
	 * Durably stores a run of one key's sends, in this order (idempotent by id): one ack each. When
	 * one fails other than by a refusal, none after it may be stored.
	 */
	commit(sends: S[]): Promise<Ack>[];
}

interface Held<S> {
	send: S;
	resolve(ack: Ack): void;
	reject(error: unknown): void;
}

interface KeyState<S> {
	/** Next clientSeq not yet handed to a run (read from the database first); a failure moves it back. */
	expected?: number;
	/** Next clientSeq past everything committed or refused for good: `expected` never moves back past it. */
	settled: number;
	held: Held<S>[];
	/** In line to commit, in the next run. */
	ready: Held<S>[];
	/** The key's runs, one after the other, while there are any. */
	running?: Promise<void>;
	/** Serialises every decision for the key. */
	chain: Promise<void>;
	gapTimer?: ReturnType<typeof setTimeout>;
	recheckTimer?: ReturnType<typeof setInterval>;
	lastUsed: number;
}

export class SequenceBuffer<S extends BufferedSend> {
	private readonly keys = new Map<string, KeyState<S>>();
	private heldTotal = 0;
	private flushing = false;
	private readonly sweeper: ReturnType<typeof setInterval>;

	constructor(private readonly options: SequenceBufferOptions<S>) {
		// Idle keys only cache "expected"; forgetting them after a minute bounds memory.
		this.sweeper = setInterval(() => this.sweep(), 60_000);
		this.sweeper.unref?.();
	}

	/** Resolves with the ack once the send is durable, in clientSeq order for its key. */
	submit(send: S): Promise<Ack> {
		const key = `${send.conversationId}:${send.clientId}`;
		let state = this.keys.get(key);
		if (!state) {
			state = { settled: 1, held: [], ready: [], chain: Promise.resolve(), lastUsed: Date.now() };
			this.keys.set(key, state);
		}
		state.lastUsed = Date.now();
		const current = state;
		return new Promise<Ack>((resolve, reject) => {
			this.enqueue(current, () => this.place(current, { send, resolve, reject }));
		});
	}

	/** True when `clientSeq` is past every send this process has taken in line for the key (so it is new). */
	isAhead(conversationId: string, clientId: string, clientSeq: number): boolean {
		const expected = this.keys.get(`${conversationId}:${clientId}`)?.expected;
		return expected !== undefined && clientSeq >= expected;
	}

	/** Number of sends currently waiting for a gap (for tests and metrics). */
	get heldCount(): number {
		return this.heldTotal;
	}

	/** Commits everything held, in order, and waits for every pending commit (graceful shutdown). */
	async flush(): Promise<void> {
		// A send still on its way in when shutdown starts must not wait for a gap the process won't outlive.
		this.flushing = true;
		clearInterval(this.sweeper);
		const states = [...this.keys.values()];
		for (const state of states) this.enqueue(state, () => this.giveUp(state));
		await Promise.all(states.map((s) => s.chain));
		await Promise.all(states.map((s) => s.running));
	}

	private enqueue(state: KeyState<S>, step: () => Promise<void>) {
		state.chain = state.chain.then(step).catch((error) => {
			log.error({ err: error }, 'Sequence buffer step failed');
		});
	}

	private async place(state: KeyState<S>, item: Held<S>): Promise<void> {
		const { send } = item;
		try {
			if (state.expected === undefined) this.learn(state, await this.options.nextExpected(send.conversationId, send.clientId));
			if (send.clientSeq > state.expected!) {
				// Looks early: another instance may have committed the missing ones meanwhile.
				this.learn(state, await this.options.nextExpected(send.conversationId, send.clientId));
			}
		} catch (error) {
			item.reject(error);
			this.releaseHeld(state, error);
			return;
		}
		if (send.clientSeq > state.expected! && !this.flushing) {
			this.hold(state, item);
			return;
		}
		this.line(state, item);
		this.drain(state);
	}

	/** What the database says is next: everything before it is stored. */
	private learn(state: KeyState<S>, fromDb: number) {
		state.expected = Math.max(state.expected ?? 1, fromDb);
		state.settled = Math.max(state.settled, fromDb);
	}

	/** Puts a send in line for the key's next run. */
	private line(state: KeyState<S>, item: Held<S>) {
		state.expected = Math.max(state.expected ?? 1, item.send.clientSeq + 1);
		state.ready.push(item);
		state.running ??= this.runAll(state).finally(() => (state.running = undefined));
	}

	/** Commits what is in line, a run at a time, until nothing is. */
	private async runAll(state: KeyState<S>): Promise<void> {
		while (state.ready.length > 0) {
			// After the decisions already waiting: sends read together leave together.
			await new Promise((resolve) => setImmediate(resolve));
			const run = state.ready.sort((a, b) => a.send.clientSeq - b.send.clientSeq).splice(0, this.runLength(state.ready));
			const outcomes = await Promise.allSettled(this.options.commit(run.map((item) => item.send)));
			this.settle(state, run, outcomes);
		}
	}

	/** How many of the sends in line (in clientSeq order) the next run takes. */
	private runLength(ready: Held<S>[]): number {
		const { maxRun, maxRunBytes, sizeOf } = this.options;
		if (maxRunBytes === undefined || !sizeOf) return maxRun;
		let bytes = 0;
		let length = 0;
		for (const { send } of ready) {
			bytes += sizeOf(send);
			if (length >= maxRun || (length > 0 && bytes > maxRunBytes)) break;
			length++;
		}
		return length;
	}

	private hold(state: KeyState<S>, item: Held<S>) {
		if (state.held.length >= this.options.maxHeldPerKey || this.heldTotal >= this.options.maxHeldTotal) {
			item.reject(
				new AppError('rate_limited', 'Too many messages are waiting for earlier ones; send the missing ones first.', {
					retryAfter: Math.ceil(this.options.gapTimeoutMs / 1000)
				})
			);
			return;
		}
		state.held.push(item);
		this.heldTotal++;
		metrics.held.inc();
		metrics.heldNow.inc();
		if (!state.gapTimer) {
			state.gapTimer = setTimeout(() => this.enqueue(state, () => this.giveUp(state)), this.options.gapTimeoutMs);
			const recheckMs = this.options.recheckMs ?? Math.min(500, Math.max(50, this.options.gapTimeoutMs / 10));
			state.recheckTimer = setInterval(() => this.enqueue(state, () => this.recheck(state)), recheckMs);
		}
	}

	private async recheck(state: KeyState<S>): Promise<void> {
		const first = state.held[0];
		if (!first) return;
		try {
			this.learn(state, await this.options.nextExpected(first.send.conversationId, first.send.clientId));
		} catch {
			return; // the gap timer still bounds the wait
		}
		this.drain(state);
	}

	/** Puts held sends in line while they are next. */
	private drain(state: KeyState<S>) {
		for (;;) {
			const index = state.held.findIndex((h) => h.send.clientSeq <= state.expected!);
			if (index === -1) break;
			const [item] = state.held.splice(index, 1);
			this.heldTotal--;
			metrics.heldNow.dec();
			this.line(state, item);
		}
		if (state.held.length === 0) this.clearTimers(state);
	}

	/** The gap is given up: all held sends go in line, in clientSeq order. */
	private async giveUp(state: KeyState<S>): Promise<void> {
		this.clearTimers(state);
		const items = state.held.splice(0).sort((a, b) => a.send.clientSeq - b.send.clientSeq);
		this.heldTotal -= items.length;
		metrics.heldNow.dec(items.length);
		for (const item of items) this.line(state, item);
	}

	/** Answers a run's sends in clientSeq order; after a failure for now, the key waits for that send again. */
	private settle(state: KeyState<S>, run: Held<S>[], outcomes: PromiseSettledResult<Ack>[]) {
		const failures: { clientSeq: number; error: unknown }[] = [];
		run.forEach((item, i) => {
			const outcome = outcomes[i];
			if (outcome.status === 'fulfilled') {
				state.settled = Math.max(state.settled, item.send.clientSeq + 1);
				item.resolve(outcome.value);
				return;
			}
			const error: unknown = outcome.reason;
			// A send the server refuses for good (conflict, not a member) will never fill its slot:
			// move past it so later sends do not wait. A transient failure keeps the slot open.
			if (error instanceof AppError && error.status < 500 && error.code !== 'rate_limited') {
				state.settled = Math.max(state.settled, item.send.clientSeq + 1);
			} else {
				failures.push({ clientSeq: item.send.clientSeq, error });
			}
			item.reject(error);
		});
		if (failures.length === 0) return;
		// The first new send that failed (a resend of a stored one leaves no slot open) is next again.
		const open = failures.map((f) => f.clientSeq).filter((clientSeq) => clientSeq >= state.settled);
		if (open.length > 0) state.expected = Math.min(state.expected ?? 1, ...open);
		if (!this.flushing) {
			// Put in line on the belief that this run would commit: now early, so held.
			const early = state.ready.filter((item) => item.send.clientSeq > state.expected!);
			state.ready = state.ready.filter((item) => item.send.clientSeq <= state.expected!);
			for (const item of early) this.hold(state, item);
		}
		this.releaseHeld(state, failures[0].error);
	}

	/**
	 * The database is away: what the key holds could only wait for the gap timeout to fail the same
	 * way, so it fails now (its client resends it, with the same ids, like the send that failed).
	 */
	private releaseHeld(state: KeyState<S>, error: unknown) {
		if (!(error instanceof AppError && error.code === 'unavailable') && !isUnavailable(error)) return;
		const items = state.held.splice(0);
		this.heldTotal -= items.length;
		metrics.heldNow.dec(items.length);
		this.clearTimers(state);
		for (const held of items) held.reject(error);
	}

	private clearTimers(state: KeyState<S>) {
		if (state.gapTimer) clearTimeout(state.gapTimer);
		if (state.recheckTimer) clearInterval(state.recheckTimer);
		state.gapTimer = undefined;
		state.recheckTimer = undefined;
	}

	private sweep() {
		const cutoff = Date.now() - 60_000;
		for (const [key, state] of this.keys) {
			if (state.held.length === 0 && !state.running && state.lastUsed < cutoff) this.keys.delete(key);
		}
	}
}
