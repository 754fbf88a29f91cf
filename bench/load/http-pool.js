/**
 * A minimal HTTP/1.1 keep-alive client for the load generator: a fixed set of sockets, one request
 * in flight per socket, requests queued when all are busy. node:http's client costs about as much
 * CPU per request as the server under test spends, and that CPU would come out of the same two
 * cores; this one only writes a prebuilt request and reads the status, headers and body.
 */
import net from 'node:net';
import { sourceAddress } from '../lib/util.js';

export class HttpPool {
	constructor(origin, size) {
		const url = new URL(origin);
		this.host = url.hostname;
		this.port = Number(url.port);
		this.hostHeader = url.host;
		this.idle = [];
		this.queue = [];
		this.sockets = [];
		for (let i = 0; i < size; i++) this.idle.push(this.open(i));
	}

	open(index) {
		const socket = net.connect({ host: this.host, port: this.port, localAddress: sourceAddress(index) });
		socket.setNoDelay(true);
		const conn = { socket, index, buffer: Buffer.alloc(0), current: null };
		socket.on('data', (chunk) => this.onData(conn, chunk));
		const fail = (error) => {
			const current = conn.current;
			conn.current = null;
			conn.dead = true;
			if (current) current.resolve({ status: 0, body: String(error?.message ?? 'closed') });
		};
		socket.on('error', fail);
		socket.on('close', () => fail(new Error('closed')));
		this.sockets.push(conn);
		return conn;
	}

	/** POST `body` (a string) to `path` with extra `headers`; resolves with { status, body }. */
	post(path, headers, body) {
		return this.request('POST', path, headers, body);
	}

	/** Any method; resolves with { status, body }. */
	request(method, path, headers, body = '') {
		const payload = Buffer.from(body);
		let head = `${method} ${path} HTTP/1.1\r\nhost: ${this.hostHeader}\r\ncontent-length: ${payload.length}\r\n`;
		for (const [name, value] of Object.entries(headers)) head += `${name}: ${value}\r\n`;
		const request = Buffer.concat([Buffer.from(head + '\r\n'), payload]);
		return new Promise((resolve) => {
			this.queue.push({ request, resolve });
			this.pump();
		});
	}

	pump() {
		while (this.queue.length && this.idle.length) {
			let conn = this.idle.pop();
			if (conn.dead) conn = this.open(conn.index);
			const job = this.queue.shift();
			conn.current = job;
			conn.socket.write(job.request);
		}
	}

	onData(conn, chunk) {
		conn.buffer = conn.buffer.length ? Buffer.concat([conn.buffer, chunk]) : chunk;
		const response = parseResponse(conn.buffer);
		if (!response) return;
		conn.buffer = conn.buffer.subarray(response.consumed);
		const job = conn.current;
		conn.current = null;
		if (response.close) {
			conn.dead = true;
			conn.socket.destroy();
		}
		this.idle.push(conn);
		job?.resolve({ status: response.status, body: response.body });
		this.pump();
	}

	close() {
		for (const conn of this.sockets) conn.socket.destroy();
	}
}

/** One complete response at the start of `buf` (content-length or chunked), or null if incomplete. */
function parseResponse(buf) {
	const end = buf.indexOf('\r\n\r\n');
	if (end === -1) return null;
	const head = buf.subarray(0, end).toString('latin1');
	const status = Number(head.slice(9, 12));
	const lower = head.toLowerCase();
	const close = /\r\nconnection: *close/.test(lower);
	let at = end + 4;
	const length = /\r\ncontent-length: *(\d+)/.exec(lower);
	if (length) {
		const total = at + Number(length[1]);
		if (buf.length < total) return null;
		return { status, body: buf.subarray(at, total).toString('utf8'), consumed: total, close };
	}
	if (/\r\ntransfer-encoding: *chunked/.test(lower)) {
		const parts = [];
		for (;;) {
			const lineEnd = buf.indexOf('\r\n', at);
			if (lineEnd === -1) return null;
			const size = parseInt(buf.subarray(at, lineEnd).toString('latin1'), 16);
			const dataStart = lineEnd + 2;
			if (buf.length < dataStart + size + 2) return null;
			if (size === 0) return { status, body: Buffer.concat(parts).toString('utf8'), consumed: dataStart + 2, close };
			parts.push(buf.subarray(dataStart, dataStart + size));
			at = dataStart + size + 2;
		}
	}
	// No body framing (e.g. 204): the head is the whole response.
	return { status, body: '', consumed: at, close };
}
