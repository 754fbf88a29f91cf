/**
 * In-memory rate limiters (per process; several instances each keep their own counts).
 * `RefillingTokenBucket` caps sustained rates; `Throttler` makes repeated failures wait longer
 * each time. Both return the seconds to wait when they refuse, for the retry-after header.
 */

export class RefillingTokenBucket<K> {
	private readonly buckets = new Map<K, { tokens: number; refilledAt: number }>();

	constructor(
		readonly max: number,
		readonly refillIntervalMs: number
	) {}

	/** Takes `cost` tokens; returns 0 when allowed, else the seconds until enough have refilled. */
	consume(key: K, cost = 1, now = Date.now()): number {
		const bucket = this.refill(key, now);
		if (bucket.tokens >= cost) {
			bucket.tokens -= cost;
			return 0;
		}
		return Math.max(1, Math.ceil(((cost - bucket.tokens) * this.refillIntervalMs) / 1000));
	}

	private refill(key: K, now: number) {
		let bucket = this.buckets.get(key);
		if (!bucket) {
			bucket = { tokens: this.max, refilledAt: now };
			this.buckets.set(key, bucket);
			if (this.buckets.size > 100_000) this.prune(now);
			return bucket;
		}
		const refills = Math.floor((now - bucket.refilledAt) / this.refillIntervalMs);
		if (refills > 0) {
			bucket.tokens = Math.min(this.max, bucket.tokens + refills);
			bucket.refilledAt += refills * this.refillIntervalMs;
		}
		return bucket;
	}

	/** Full buckets carry no information; dropping them bounds memory under many distinct keys. */
	private prune(now: number) {
		for (const [key, bucket] of this.buckets) {
			if (bucket.tokens + (now - bucket.refilledAt) / this.refillIntervalMs >= this.max) {
				this.buckets.delete(key);
			}
		}
	}
}

export class Throttler<K> {
	private readonly counters = new Map<K, { index: number; updatedAt: number }>();

	/** `timeoutSeconds[i]` is the wait imposed after the i-th consecutive failure. */
	constructor(readonly timeoutSeconds: number[]) {}

	/** Returns 0 when an attempt may go ahead now, else the seconds to wait. */
	check(key: K, now = Date.now()): number {
		const counter = this.counters.get(key);
		if (!counter) return 0;
		const waitMs = this.timeoutSeconds[counter.index] * 1000;
		const remaining = counter.updatedAt + waitMs - now;
		return remaining > 0 ? Math.ceil(remaining / 1000) : 0;
	}

	recordFailure(key: K, now = Date.now()): void {
		const counter = this.counters.get(key);
		if (!counter) {
			this.counters.set(key, { index: 0, updatedAt: now });
			if (this.counters.size > 100_000) this.prune(now);
			return;
		}
		counter.index = Math.min(counter.index + 1, this.timeoutSeconds.length - 1);
		counter.updatedAt = now;
	}

	reset(key: K): void {
		this.counters.delete(key);
	}

	private prune(now: number) {
		const longest = Math.max(...this.timeoutSeconds) * 1000;
		for (const [key, counter] of this.counters) {
			if (now - counter.updatedAt > longest) this.counters.delete(key);
		}
	}
}
