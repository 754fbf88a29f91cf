/**
 * Operations child: edits, reactions and searches through Duet's HTTP API (the routes of
 * docs/protocol.md "Changing messages" and GET /api/search), in a closed loop, each worker signed in
 * as its own user so that no two workers wait on one conversation's lock.
 */
import { closedLoop } from '../lib/closed-loop.js';
import { serve } from '../lib/util.js';
import { HttpPool } from './http-pool.js';

/** The request of loop worker `w`'s k-th operation of `kind` (its user's, its messages). */
function operation(kind, { cookie, messageIds, paths }, k) {
	if (kind === 'edit') {
		const id = messageIds[k % messageIds.length];
		return { method: 'PATCH', path: `/api/messages/${id}`, cookie, body: JSON.stringify({ body: `Edited by the benchmark, ${k}` }) };
	}
	if (kind === 'reaction') {
		// Added, then removed by the next operation: every one changes the message.
		const id = messageIds[Math.floor(k / 2) % messageIds.length];
		return { method: k % 2 ? 'DELETE' : 'PUT', path: `/api/messages/${id}/reactions/${encodeURIComponent('👍')}`, cookie };
	}
	return { method: 'GET', path: paths[k % paths.length], cookie };
}

serve({
	/** Runs `kind` ('edit' | 'reaction' | 'search') for `durationMs` with `inFlight` at once. */
	async run({ origin, kind, workers, inFlight, durationMs }) {
		const pool = new HttpPool(origin, inFlight);
		const counts = new Array(inFlight).fill(0);
		const statuses = {};
		try {
			const result = await closedLoop(
				async (w) => {
					const { method, path, cookie, body } = operation(kind, workers[w % workers.length], counts[w]++);
					const headers = { cookie, origin, ...(body ? { 'content-type': 'application/json' } : {}) };
					const { status } = await pool.request(method, path, headers, body);
					statuses[status] = (statuses[status] ?? 0) + 1;
					return status === 200;
				},
				{ inFlight, durationMs }
			);
			return { ...result, statuses };
		} finally {
			pool.close();
		}
	}
});
