/**
 * Load-generator child: holds one connection per user for a set of 1:1 pairs and sends messages on
 * an open-loop schedule. Each message is timed from its *scheduled* send time (so a stalled server
 * or a busy generator shows up as latency instead of silently lowering the offered load: no
 * coordinated omission). Both ends of a pair live in this process, so one clock times a message.
 *
 * Modes: `ws` (Duet /ws frames), `sse` (Duet GET /api/events + POST /api/messages) and `bare` (the
 * bare ws relay baseline, same frames). Checks every delivery: lost, duplicated, out of order.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import WebSocket from 'ws';
import { encode, newHist, recordMs } from '../lib/hist.js';
import { HttpPool } from './http-pool.js';
import { now, pool, serve, sleep, sourceAddress } from '../lib/util.js';

let config;
/** @type {Conn[]} */
let conns = [];
let step = null;
let postPool;

/**
 * @typedef {{ index: number, user: any, peer: number, conversationId: string, clientId: string,
 *   clientSeq: number, lastSeq: number | undefined, ws?: WebSocket, sse?: http.ClientRequest, ready: boolean }} Conn
 */

function newStep() {
	return {
		records: new Map(),
		e2e: newHist(),
		ack: newHist(),
		lag: newHist(),
		sent: 0,
		acked: 0,
		delivered: 0,
		echoed: 0,
		duplicates: 0,
		outOfOrder: 0,
		gaps: 0,
		errors: {},
		lastEventAt: 0
	};
}

function countError(code) {
	if (!step) return;
	step.errors[code] = (step.errors[code] ?? 0) + 1;
}

/** A message event seen by connection `conn`: check order, then time it if it is one of ours. */
function onMessageEvent(conn, message) {
	const seq = message.seq;
	if (conn.lastSeq !== undefined && step) {
		if (seq <= conn.lastSeq) step.outOfOrder++;
		else if (seq !== conn.lastSeq + 1) step.gaps++;
	}
	if (conn.lastSeq === undefined || seq > conn.lastSeq) conn.lastSeq = seq;
	if (!step) return;
	const record = step.records.get(message.id);
	if (!record) return;
	const t = now();
	step.lastEventAt = t;
	if (message.senderId === conn.user.id) {
		if (record.echoed) step.duplicates++;
		record.echoed = true;
		step.echoed++;
		return;
	}
	if (record.delivered) {
		step.duplicates++;
		return;
	}
	record.delivered = true;
	step.delivered++;
	recordMs(step.e2e, t - record.scheduled);
}

function onAck(id) {
	if (!step) return;
	const record = step.records.get(id);
	if (!record || record.acked) return;
	record.acked = true;
	step.acked++;
	recordMs(step.ack, now() - record.scheduled);
}

function onFrame(conn, text) {
	let frame;
	try {
		frame = JSON.parse(text);
	} catch {
		countError('bad_frame');
		return;
	}
	switch (frame.type) {
		case 'message':
			onMessageEvent(conn, frame.message);
			break;
		case 'ack':
			onAck(frame.id);
			break;
		case 'ready':
			conn.ready = true;
			conn.onReady?.();
			break;
		case 'error':
			countError(frame.code);
			if (frame.id && step?.records.get(frame.id)) step.records.get(frame.id).failed = true;
			break;
		case 'reset':
			countError('reset');
			break;
	}
}

function openWs(conn, path) {
	return new Promise((resolve, reject) => {
		// A user may sit on an instance of its own (the cluster scenario); otherwise everyone is on config.origin.
		const origin = conn.user.origin ?? config.origin;
		const url = origin.replace(/^http/, 'ws') + path;
		const ws = new WebSocket(url, {
			headers: conn.user.cookie ? { cookie: conn.user.cookie, origin } : { origin },
			perMessageDeflate: false,
			localAddress: sourceAddress(conn.index)
		});
		conn.ws = ws;
		conn.onReady = resolve;
		ws.on('message', (data) => onFrame(conn, data.toString()));
		ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
		ws.once('error', reject);
		ws.on('close', (code) => {
			if (step) countError('closed');
			// Closed before `ready` (its stream failed to start): settles the connect, to be tried again.
			reject(new Error(`closed before ready: ${code}`));
		});
	});
}

/** An SSE reader over node:http that hands each `data:` JSON to onFrame. */
function openSse(conn) {
	return new Promise((resolve, reject) => {
		conn.onReady = resolve;
		const req = http.get(
			config.origin + '/api/events',
			{ agent: false, headers: { cookie: conn.user.cookie, accept: 'text/event-stream' }, localAddress: sourceAddress(conn.index) },
			(res) => {
				if (res.statusCode !== 200) {
					reject(new Error(`SSE refused: ${res.statusCode}`));
					res.resume();
					return;
				}
				res.setEncoding('utf8');
				let buffer = '';
				res.on('data', (chunk) => {
					buffer += chunk;
					let end;
					while ((end = buffer.indexOf('\n\n')) !== -1) {
						const block = buffer.slice(0, end);
						buffer = buffer.slice(end + 2);
						const at = block.indexOf('data: ');
						if (at !== -1) onFrame(conn, block.slice(at + 6, block.indexOf('\n', at) === -1 ? undefined : block.indexOf('\n', at)));
					}
				});
				res.on('end', () => {
					if (step) countError('closed');
				});
			}
		);
		req.on('error', reject);
		conn.sse = req;
	});
}

function post(conn, body) {
	return postPool.post(
		'/api/messages',
		{ cookie: conn.user.cookie, origin: config.origin, 'content-type': 'application/json' },
		JSON.stringify(body)
	);
}

const BODY = 'Benchmark message: the quick brown fox jumps over the lazy dog. '.repeat(2).slice(0, 100);

function sendOne(conn, scheduled) {
	const peer = conns[conn.peer];
	const send = {
		id: randomUUID(),
		conversationId: conn.conversationId,
		clientId: conn.clientId,
		clientSeq: ++conn.clientSeq,
		body: BODY
	};
	step.records.set(send.id, { scheduled, acked: false, delivered: false, echoed: false, failed: false });
	step.sent++;
	recordMs(step.lag, now() - scheduled);
	if (config.mode === 'sse') {
		void post(conn, send).then(({ status, body: text }) => {
			if (status === 200) {
				try {
					onAck(JSON.parse(text).id);
				} catch {
					countError('bad_ack');
				}
			} else {
				let code = `http_${status}`;
				try {
					code = JSON.parse(text).error.code;
				} catch {
					/* not JSON */
				}
				countError(code);
				const record = step?.records.get(send.id);
				if (record) record.failed = true;
			}
		});
	} else {
		const frame = config.mode === 'bare' ? { type: 'send', to: peer.user.id, from: conn.user.id, ...send } : { type: 'send', ...send };
		conn.ws.send(JSON.stringify(frame));
	}
}

/** As the real client does: a 503 or a close before `ready` (the database busy or away) is tried again, backing off. */
async function withRetries(open) {
	for (let attempt = 1; ; attempt++) {
		try {
			return await open();
		} catch (error) {
			if (attempt >= 20 || !/503|closed before ready/.test(String(error?.message))) throw error;
			await sleep(Math.min(5000, 100 * 2 ** attempt));
		}
	}
}

serve({
	/** users: [{id, cookie, origin?}], pairs: [[i, j, conversationId]] indexes into users. */
	async connect(payload) {
		config = payload;
		if (payload.mode === 'sse') postPool = new HttpPool(payload.origin, payload.maxSockets ?? 64);
		conns = payload.users.map((user, index) => ({
			index,
			user,
			peer: -1,
			conversationId: '',
			clientId: randomUUID(),
			clientSeq: 0,
			lastSeq: undefined,
			ready: false
		}));
		for (const [i, j, conversationId] of payload.pairs) {
			conns[i].peer = j;
			conns[j].peer = i;
			conns[i].conversationId = conns[j].conversationId = conversationId;
		}
		const t0 = now();
		await pool(conns, 50, async (conn) => {
			if (config.mode === 'ws') await withRetries(() => openWs(conn, '/ws'));
			else if (config.mode === 'bare') await openWs(conn, `/?user=${conn.user.id}`);
			else await openSse(conn);
		});
		return { opened: conns.length, ms: now() - t0 };
	},

	/** One open-loop step at `rate` messages/s for `durationMs`, then waits up to `drainMs` for stragglers. */
	async run({ rate, durationMs, drainMs, startAt }) {
		step = newStep();
		const total = Math.max(1, Math.round((rate * durationMs) / 1000));
		const interval = 1000 / rate;
		const start = startAt ?? now() + 20;
		const cpu0 = process.cpuUsage();
		let i = 0;
		await new Promise((resolve) => {
			const tick = () => {
				const t = now();
				while (i < total && start + i * interval <= t) {
					sendOne(conns[i % conns.length], start + i * interval);
					i++;
				}
				if (i >= total) return resolve();
				setTimeout(tick, Math.max(0, Math.min(1, start + i * interval - now())));
			};
			setTimeout(tick, Math.max(0, start - now()));
		});
		const sendEnd = now();
		const deadline = sendEnd + drainMs;
		for (;;) {
			let pending = 0;
			for (const record of step.records.values()) {
				if (!record.failed && (!record.acked || !record.delivered)) pending++;
			}
			if (pending === 0 || now() > deadline) break;
			await sleep(20);
		}
		let lost = 0;
		let unacked = 0;
		for (const record of step.records.values()) {
			if (record.failed) continue;
			if (record.acked && !record.delivered) lost++;
			if (!record.acked) unacked++;
		}
		const cpu = process.cpuUsage(cpu0);
		const result = {
			rate,
			start,
			sendEnd,
			lastEventAt: step.lastEventAt,
			sent: step.sent,
			acked: step.acked,
			delivered: step.delivered,
			echoed: step.echoed,
			lost,
			unacked,
			duplicates: step.duplicates,
			outOfOrder: step.outOfOrder,
			gaps: step.gaps,
			errors: step.errors,
			e2e: encode(step.e2e),
			ack: encode(step.ack),
			lag: encode(step.lag),
			cpuSeconds: (cpu.user + cpu.system) / 1e6
		};
		step = null;
		return result;
	},

	async close() {
		for (const conn of conns) {
			conn.ws?.terminate();
			conn.sse?.destroy();
		}
		postPool?.close();
		return true;
	}
});
