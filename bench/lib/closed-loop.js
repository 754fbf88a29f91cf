/**
 * A closed loop: `inFlight` workers each run `op(worker, i)` back to back, first for a warm-up
 * (connections, plans, JIT), then for `durationMs`, timed one by one into a latency histogram.
 * `op` resolves with true when the operation succeeded; failures are counted, not timed.
 */
import { encode, newHist, recordMs } from './hist.js';
import { now } from './util.js';

export async function closedLoop(op, { inFlight, durationMs, warmupMs = Math.min(2000, durationMs / 5) }) {
	let next = 0;
	const warmupEnd = now() + warmupMs;
	await Promise.all(
		Array.from({ length: inFlight }, async (_, worker) => {
			while (now() < warmupEnd) await op(worker, next++);
		})
	);
	const latency = newHist();
	let done = 0;
	let failed = 0;
	const start = now();
	const end = start + durationMs;
	await Promise.all(
		Array.from({ length: inFlight }, async (_, worker) => {
			while (now() < end) {
				const t = now();
				if (await op(worker, next++)) {
					recordMs(latency, now() - t);
					done++;
				} else failed++;
			}
		})
	);
	const seconds = (now() - start) / 1000;
	return { done, failed, total: next, seconds, perSecond: done / seconds, inFlight, latency: encode(latency) };
}
