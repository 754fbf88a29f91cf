/**
 * The WebSocket transport (/ws). Reconnecting, and following the browser online, offline and back
 * to a visible tab, is the lifecycle's job; this module pings every 20 s and replaces a connection
 * that has not answered within 10 s, so a dead link is noticed in well under a minute.
 */
import { CLOSE } from '$lib/protocol';
import type { ClientFrame } from '$lib/schemas';
import type { ServerFrame } from '$lib/types';
import type { ConnectionState, Transport, TransportEvents } from './transport';
import { ConnectionLifecycle } from './transport-lifecycle';

export const PING_INTERVAL_MS = 20_000;
export const PONG_TIMEOUT_MS = 10_000;

export interface WsTransportOptions {
	url?: (cursor: string | null) => string;
	random?: () => number;
}

function defaultUrl(cursor: string | null): string {
	const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
	const query = cursor ? `?cursor=${encodeURIComponent(cursor)}` : '';
	return `${scheme}://${location.host}/ws${query}`;
}

export class WsTransport implements Transport {
	private readonly url: (cursor: string | null) => string;
	private readonly lifecycle: ConnectionLifecycle;
	private socket: WebSocket | null = null;
	private pingTimer: ReturnType<typeof setInterval> | undefined;
	private pongTimer: ReturnType<typeof setTimeout> | undefined;

	constructor(options: WsTransportOptions = {}) {
		this.url = options.url ?? defaultUrl;
		this.lifecycle = new ConnectionLifecycle(
			{
				held: () => this.socket !== null,
				open: (cursor) => this.open(cursor),
				drop: () => this.drop(),
				check: () => this.ping()
			},
			// A hidden tab's socket may have died while timers were throttled: look at once on return.
			{ random: options.random, reconnectOnVisible: true }
		);
	}

	get state(): ConnectionState {
		return this.lifecycle.state;
	}

	on<K extends keyof TransportEvents>(event: K, listener: (value: TransportEvents[K]) => void): () => void {
		return this.lifecycle.on(event, listener);
	}

	connect(cursor: () => Promise<string | null>): void {
		this.lifecycle.start(cursor);
	}

	send(frame: ClientFrame): boolean {
		if (this.lifecycle.state !== 'live' || this.socket?.readyState !== WebSocket.OPEN) return false;
		this.socket.send(JSON.stringify(frame));
		return true;
	}

	close(): void {
		this.lifecycle.stop();
	}

	private open(cursor: string | null): void {
		let socket: WebSocket;
		try {
			socket = new WebSocket(this.url(cursor));
		} catch {
			this.lifecycle.lost();
			return;
		}
		this.socket = socket;
		let live = false;
		socket.onmessage = (event) => {
			if (this.socket !== socket) return;
			let frame: ServerFrame;
			try {
				frame = JSON.parse(String(event.data)) as ServerFrame;
			} catch {
				return;
			}
			this.heard();
			if (frame.type === 'ready') {
				live = true;
				this.lifecycle.live();
			}
			if (frame.type !== 'pong') this.lifecycle.emit('frame', frame);
		};
		socket.onopen = () => {
			if (this.socket !== socket) return;
			this.pingTimer = setInterval(() => this.ping(), PING_INTERVAL_MS);
		};
		socket.onclose = (event) => {
			if (this.socket !== socket) return;
			this.drop();
			if (event.code === CLOSE.sessionEnded) {
				this.lifecycle.emit('ended', undefined);
				return;
			}
			if (!live) this.lifecycle.emit('refused', undefined);
			this.lifecycle.lost();
		};
	}

	/** Any frame proves the link is alive. */
	private heard(): void {
		clearTimeout(this.pongTimer);
		this.pongTimer = undefined;
	}

	private ping(): void {
		if (!this.socket || this.socket.readyState !== WebSocket.OPEN) return;
		this.socket.send(JSON.stringify({ type: 'ping' }));
		if (this.pongTimer) return;
		this.pongTimer = setTimeout(() => {
			this.lifecycle.setState('stale');
			this.drop();
			void this.lifecycle.open();
		}, PONG_TIMEOUT_MS);
	}

	private drop(): void {
		clearInterval(this.pingTimer);
		clearTimeout(this.pongTimer);
		this.pongTimer = undefined;
		const socket = this.socket;
		this.socket = null;
		if (socket) {
			socket.onmessage = socket.onclose = socket.onopen = null;
			try {
				socket.close();
			} catch {
				// Closing a socket that never opened can throw; it is gone either way.
			}
		}
	}
}
