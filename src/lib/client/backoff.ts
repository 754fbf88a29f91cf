/**
 * Exponential backoff with "full jitter" (AWS Architecture Blog, 2015): the wait before retry
 * n is uniform in [0, min(cap, base·2ⁿ)], so many clients that failed together do not retry
 * together. Used by the reconnect loop and by the outbox.
 */

export interface BackoffPolicy {
	baseMs: number;
	capMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 1_000, capMs: 30_000 };

/** The ceiling of the wait before retry number `attempt` (0-based). */
export function backoffCeiling(attempt: number, policy: BackoffPolicy = DEFAULT_BACKOFF): number {
	// 2**attempt overflows to Infinity long before it matters; min() keeps it at the cap.
	return Math.min(policy.capMs, policy.baseMs * 2 ** Math.max(0, attempt));
}

/** A full-jitter wait for retry number `attempt`; `random` is injectable so tests are exact. */
export function fullJitter(attempt: number, policy: BackoffPolicy = DEFAULT_BACKOFF, random: () => number = Math.random): number {
	return Math.floor(random() * backoffCeiling(attempt, policy));
}
