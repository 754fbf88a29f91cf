/**
 * The WebSocket transport (/ws). Reconnects with full-jitter backoff (1 s → 30 s), at once when
 * the browser comes online or a hidden tab becomes visible; pings every 20 s and replaces a
 * connection that has not answered within 10 s, so a dead link is noticed in well under a minute.
 */
import type { ClientFrame } from '$lib/schemas';
import type { ServerFrame } from '$lib/types';
import { fullJitter } from './backoff';
import { Emitter, type ConnectionState, type Transport, type TransportEvents } from './transport';

export const PING_INTERVAL_MS = 20_000;
export const PONG_TIMEOUT_MS = 10_000;
/** The server's close code for a session that was signed out (logout, logout everywhere). */
export const CLOSE_SESSION_ENDED = 4001;

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
	private readonly emitter = new Emitter<TransportEvents>();
	private readonly url: (cursor: string | null) => string;
	private readonly random: () => number;
	private socket: WebSocket | null = null;
	private cursor: (() => Promise<string | null>) | null = null;
	private attempt = 0;
	private retryTimer: ReturnType<typeof setTimeout> | undefined;
	private pingTimer: ReturnType<typeof setInterval> | undefined;
	private pongTimer: ReturnType<typeof setTimeout> | undefined;
	private stopped = false;
	private current: ConnectionState = 'connecting';

	constructor(options: WsTransportOptions = {}) {
		this.url = options.url ?? defaultUrl;
		this.random = options.random ?? Math.random;
	}

	get state(): ConnectionState {
		return this.current;
	}

	on<K extends keyof TransportEvents>(event: K, listener: (value: TransportEvents[K]) => void): () => void {
		return this.emitter.on(event, listener);
	}

	connect(cursor: () => Promise<string | null>): void {
		this.cursor = cursor;
		this.stopped = false;
		addEventListener('online', this.onOnline);
		addEventListener('offline', this.onOffline);
		document.addEventListener('visibilitychange', this.onVisible);
		void this.open();
	}

	send(frame: ClientFrame): boolean {
		if (this.current !== 'live' || this.socket?.readyState !== WebSocket.OPEN) return false;
		this.socket.send(JSON.stringify(frame));
		return true;
	}

	close(): void {
		this.stopped = true;
		removeEventListener('online', this.onOnline);
		removeEventListener('offline', this.onOffline);
		document.removeEventListener('visibilitychange', this.onVisible);
		this.drop();
		clearTimeout(this.retryTimer);
		this.setState('closed');
	}

	private setState(state: ConnectionState): void {
		if (state === this.current) return;
		this.current = state;
		this.emitter.emit('state', state);
	}

	private async open(): Promise<void> {
		if (this.stopped || this.socket) return;
		clearTimeout(this.retryTimer);
		if (!navigator.onLine) {
			this.setState('offline');
			return;
		}
		this.setState('connecting');
		const cursor = this.cursor ? await this.cursor() : null;
		if (this.stopped || this.socket) return;
		let socket: WebSocket;
		try {
			socket = new WebSocket(this.url(cursor));
		} catch {
			this.scheduleRetry();
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
				this.attempt = 0;
				this.setState('live');
			}
			if (frame.type !== 'pong') this.emitter.emit('frame', frame);
		};
		socket.onopen = () => {
			if (this.socket !== socket) return;
			this.pingTimer = setInterval(() => this.ping(), PING_INTERVAL_MS);
		};
		socket.onclose = (event) => {
			if (this.socket !== socket) return;
			this.drop();
			if (event.code === CLOSE_SESSION_ENDED) {
				this.emitter.emit('ended', undefined);
				return;
			}
			if (!live) this.emitter.emit('refused', undefined);
			this.scheduleRetry();
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
			this.setState('stale');
			this.drop();
			void this.open();
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

	private scheduleRetry(): void {
		if (this.stopped) return;
		if (!navigator.onLine) {
			this.setState('offline');
			return;
		}
		this.setState('waiting');
		const wait = fullJitter(this.attempt++, undefined, this.random);
		clearTimeout(this.retryTimer);
		this.retryTimer = setTimeout(() => void this.open(), wait);
	}

	private readonly onOnline = () => {
		this.attempt = 0;
		if (this.socket) this.ping();
		else void this.open();
	};

	/** Emulated or real, "offline" means the socket cannot carry anything: stop pretending. */
	private readonly onOffline = () => {
		this.drop();
		clearTimeout(this.retryTimer);
		this.setState('offline');
	};

	private readonly onVisible = () => {
		if (document.visibilityState !== 'visible') return;
		if (this.socket) this.ping();
		else {
			this.attempt = 0;
			void this.open();
		}
	};
}
