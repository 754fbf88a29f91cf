/**
 * The WebSocket transport (/ws). Reconnecting, and following the browser online, offline and back
 * to a visible tab, is the lifecycle's job; this module pings every 20 s and replaces a connection
 * that has not answered within 10 s, so a dead link is noticed in well under a minute.
 */
import { CLOSE } from '$lib/protocol';
import type { ClientFrame } from '$lib/schemas';
import { LifecycleTransport } from './transport-lifecycle';

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

export class WsTransport extends LifecycleTransport {
	private readonly url: (cursor: string | null) => string;
	private socket: WebSocket | null = null;
	private pingTimer: ReturnType<typeof setInterval> | undefined;
	private pongTimer: ReturnType<typeof setTimeout> | undefined;

	constructor(options: WsTransportOptions = {}) {
		// A hidden tab's socket may have died while timers were throttled: look at once on return.
		super({ random: options.random, reconnectOnVisible: true });
		this.url = options.url ?? defaultUrl;
	}

	send(frame: ClientFrame): boolean {
		if (this.lifecycle.state !== 'live' || this.socket?.readyState !== WebSocket.OPEN) return false;
		this.socket.send(JSON.stringify(frame));
		return true;
	}

	protected held(): boolean {
		return this.socket !== null;
	}

	protected check(): void {
		this.ping();
	}

	protected open(cursor: string | null): void {
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
			const frame = this.receive(event.data);
			if (!frame) return;
			this.heard();
			if (frame.type === 'ready') live = true;
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

	protected drop(): void {
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
