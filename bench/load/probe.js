/**
 * Probe child for the single-client scenarios: catch-up (replay of N events from a cursor over
 * WebSocket or SSE), history page latency, and SSR time to first byte. Requests run one at a time
 * on a keep-alive connection, so the figures are latencies, not throughput.
 */
import http from 'node:http';
import WebSocket from 'ws';
import { encode, newHist, recordMs } from '../lib/hist.js';
import { now, serve } from '../lib/util.js';

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

/** GET with the session cookie; resolves at the first byte (headers) and at the end of the body. */
function get(url, cookie) {
	return new Promise((resolve, reject) => {
		const t0 = now();
		const req = http.get(url, { agent, headers: { cookie } }, (res) => {
			const firstByte = now() - t0;
			let size = 0;
			res.on('data', (chunk) => (size += chunk.length));
			res.on('end', () => resolve({ status: res.statusCode, firstByte, total: now() - t0, size }));
		});
		req.on('error', reject);
	});
}

serve({
	/** Connects with ?cursor= and times the arrival of every event up to `expect` events. */
	async catchup({ origin, cookie, cursor, expect, transport }) {
		const t0 = now();
		let count = 0;
		let lastCursor = cursor;
		let firstAt = 0;
		await new Promise((resolve, reject) => {
			const onEvent = (event) => {
				if (event.type !== 'message') return;
				if (count === 0) firstAt = now();
				count++;
				lastCursor = event.cursor;
				if (count >= expect) resolve();
			};
			const timer = setTimeout(() => reject(new Error(`catch-up timed out after ${count}/${expect} events`)), 120_000);
			if (transport === 'ws') {
				const ws = new WebSocket(`${origin.replace(/^http/, 'ws')}/ws?cursor=${cursor}`, {
					headers: { cookie, origin },
					perMessageDeflate: false
				});
				ws.on('message', (data) => onEvent(JSON.parse(data.toString())));
				ws.once('error', reject);
				const done = resolve;
				resolve = () => {
					clearTimeout(timer);
					ws.terminate();
					done();
				};
			} else {
				const req = http.get(
					`${origin}/api/events?cursor=${cursor}`,
					{ agent: false, headers: { cookie, accept: 'text/event-stream' } },
					(res) => {
						res.setEncoding('utf8');
						let buffer = '';
						res.on('data', (chunk) => {
							buffer += chunk;
							let end;
							while ((end = buffer.indexOf('\n\n')) !== -1) {
								const block = buffer.slice(0, end);
								buffer = buffer.slice(end + 2);
								const at = block.indexOf('data: ');
								if (at !== -1) onEvent(JSON.parse(block.slice(at + 6)));
							}
						});
					}
				);
				req.on('error', reject);
				const done = resolve;
				resolve = () => {
					clearTimeout(timer);
					req.destroy();
					done();
				};
			}
		});
		const ms = now() - t0;
		return { events: count, ms, firstEventMs: firstAt - t0, perSecond: (count / ms) * 1000, lastCursor };
	},

	/** `count` sequential GETs of `paths` (cycled); latency histograms of first byte and full body. */
	async requests({ origin, cookie, paths, count, warmup = 20 }) {
		for (let i = 0; i < warmup; i++) await get(origin + paths[i % paths.length], cookie);
		const firstByte = newHist();
		const total = newHist();
		const statuses = {};
		let bytes = 0;
		for (let i = 0; i < count; i++) {
			const result = await get(origin + paths[i % paths.length], cookie);
			statuses[result.status] = (statuses[result.status] ?? 0) + 1;
			recordMs(firstByte, result.firstByte);
			recordMs(total, result.total);
			bytes += result.size;
		}
		return { statuses, firstByte: encode(firstByte), total: encode(total), meanBytes: bytes / count };
	}
});
