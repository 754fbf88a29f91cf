/**
 * Idle-connection child: opens many WebSocket or SSE connections (to Duet or to a bare baseline
 * server), answers heartbeats (ws answers pings by itself; SSE comments are read and counted), and
 * holds them until told to close. Several of these split the connections between them.
 */
import http from 'node:http';
import WebSocket from 'ws';
import { now, pool, serve, sourceAddress } from '../lib/util.js';

const sockets = [];
let pings = 0;
let keepalives = 0;
let closedEarly = 0;

function openWs(url, cookie, origin, index) {
	return new Promise((resolve, reject) => {
		const ws = new WebSocket(url, {
			headers: { ...(cookie ? { cookie } : {}), origin },
			perMessageDeflate: false,
			localAddress: sourceAddress(index)
		});
		let ready = false;
		ws.on('ping', () => pings++);
		ws.on('message', (data) => {
			if (!ready && data.toString().includes('"type":"ready"')) {
				ready = true;
				resolve();
			}
		});
		ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
		ws.once('error', reject);
		ws.on('close', () => {
			if (ready) closedEarly++;
		});
		sockets.push({ close: () => ws.terminate() });
	});
}

function openSse(url, cookie, index) {
	return new Promise((resolve, reject) => {
		const req = http.get(
			url,
			{ agent: false, headers: { ...(cookie ? { cookie } : {}), accept: 'text/event-stream' }, localAddress: sourceAddress(index) },
			(res) => {
				if (res.statusCode !== 200) {
					res.resume();
					reject(new Error(`SSE refused: ${res.statusCode}`));
					return;
				}
				res.setEncoding('utf8');
				let ready = false;
				res.on('data', (chunk) => {
					if (chunk.includes(': keepalive')) keepalives++;
					if (!ready && chunk.includes('event: ready')) {
						ready = true;
						resolve();
					}
				});
				res.on('end', () => closedEarly++);
			}
		);
		req.on('error', reject);
		sockets.push({ close: () => req.destroy() });
	});
}

serve({
	/** Opens `count` connections of `kind` ('ws' | 'sse' | 'bare-ws' | 'bare-sse'), cycling over `cookies`. */
	async open({ kind, origin, cookies, count, offset = 0, concurrency = 100 }) {
		const t0 = now();
		let failed = 0;
		let firstError;
		const indexes = Array.from({ length: count }, (_, i) => i + offset);
		await pool(indexes, concurrency, async (i) => {
			const cookie = cookies.length ? cookies[i % cookies.length] : undefined;
			try {
				if (kind === 'ws') await openWs(origin.replace(/^http/, 'ws') + '/ws', cookie, origin, i);
				else if (kind === 'bare-ws') await openWs(origin.replace(/^http/, 'ws') + `/?user=idle${i}`, undefined, origin, i);
				else if (kind === 'sse') await openSse(origin + '/api/events', cookie, i);
				else await openSse(origin + '/events', undefined, i);
			} catch (error) {
				failed++;
				firstError ??= String(error?.message ?? error);
			}
		});
		return { opened: count - failed, failed, firstError, ms: now() - t0 };
	},

	stats() {
		return { pings, keepalives, closedEarly, open: sockets.length };
	},

	close() {
		for (const socket of sockets.splice(0)) socket.close();
		return true;
	}
});
