/**
 * The fallback transport for networks whose proxies refuse or break WebSockets: push over
 * Server-Sent Events (GET /api/events), sends, receipts and typing over the POST endpoints.
 *
 * To the sync engine and the outbox it looks exactly like the WebSocket transport: the POST
 * response of a send becomes an `ack` frame, an HTTP error becomes an `error` frame naming the
 * send's id (a network failure counts as `unavailable`, which the outbox retries), and the stream
 * is live only after `ready`. The browser's own EventSource reconnect carries `Last-Event-ID`, so
 * a dropped stream resumes where it stopped; only a refused one (401, 429, 503) is reopened here,
 * with backoff and from the sync engine's cursor.
 */
import { AppError } from '$lib/errors';
import type { ClientFrame } from '$lib/schemas';
import type { ServerFrame } from '$lib/types';
import { createApi, type Api } from './api';
import { fullJitter } from './backoff';
import { Emitter, type ConnectionState, type Transport, type TransportEvents } from './transport';
import { CLOSE_SESSION_ENDED } from './transport-ws';

/** Every named event the server writes; `close` is the server's goodbye, not a push event. */
const EVENT_TYPES = ['ready', 'reset', 'message', 'receipt', 'conversation', 'typing', 'presence'] as const;

export interface SseTransportOptions {
	url?: (cursor: string | null) => string;
	api?: Pick<Api, 'send' | 'receipt' | 'typing'>;
	random?: () => number;
}

function defaultUrl(cursor: string | null): string {
	return cursor ? `/api/events?cursor=${encodeURIComponent(cursor)}` : '/api/events';
}

export class SseTransport implements Transport {
	private readonly emitter = new Emitter<TransportEvents>();
	private readonly url: (cursor: string | null) => string;
	private readonly api: Pick<Api, 'send' | 'receipt' | 'typing'>;
	private readonly random: () => number;
	private source: EventSource | null = null;
	private cursor: (() => Promise<string | null>) | null = null;
	private attempt = 0;
	private retryTimer: ReturnType<typeof setTimeout> | undefined;
	private stopped = false;
	private current: ConnectionState = 'connecting';

	constructor(options: SseTransportOptions = {}) {
		this.url = options.url ?? defaultUrl;
		this.api = options.api ?? createApi();
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
		void this.open();
	}

	send(frame: ClientFrame): boolean {
		if (this.current !== 'live') return false;
		switch (frame.type) {
			case 'send': {
				const { type: _type, ...input } = frame;
				this.api.send(input).then(
					(ack) => this.emitter.emit('frame', { type: 'ack', ...ack }),
					(error: unknown) => {
						const e = error instanceof AppError ? error : new AppError('unavailable', 'The server cannot be reached.');
						this.emitter.emit('frame', { type: 'error', code: e.code, message: e.message, id: input.id, retryAfter: e.retryAfter });
					}
				);
				return true;
			}
			case 'receipt': {
				const { type: _type, ...input } = frame;
				// Receipts are cumulative: a lost one is covered by the next, and `ready` re-sends what is owed.
				this.api.receipt(input).catch(() => {});
				return true;
			}
			case 'typing':
				this.api.typing(frame.conversationId).catch(() => {});
				return true;
			case 'ping':
				return true;
		}
	}

	close(): void {
		this.stopped = true;
		removeEventListener('online', this.onOnline);
		removeEventListener('offline', this.onOffline);
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
		if (this.stopped || this.source) return;
		clearTimeout(this.retryTimer);
		if (!navigator.onLine) {
			this.setState('offline');
			return;
		}
		this.setState('connecting');
		const cursor = this.cursor ? await this.cursor() : null;
		if (this.stopped || this.source) return;
		const source = new EventSource(this.url(cursor));
		this.source = source;
		let live = false;
		const onEvent = (event: MessageEvent) => {
			if (this.source !== source) return;
			let frame: ServerFrame;
			try {
				frame = JSON.parse(String(event.data)) as ServerFrame;
			} catch {
				return;
			}
			if (frame.type === 'ready') {
				live = true;
				this.attempt = 0;
				this.setState('live');
			}
			this.emitter.emit('frame', frame);
		};
		for (const type of EVENT_TYPES) source.addEventListener(type, onEvent);
		source.addEventListener('close', (event) => {
			if (this.source !== source) return;
			let code = 0;
			try {
				code = Number((JSON.parse(String((event as MessageEvent).data)) as { code?: unknown }).code);
			} catch {
				// A goodbye we cannot read is treated as an ordinary drop.
			}
			if (code === CLOSE_SESSION_ENDED) {
				this.drop();
				this.emitter.emit('ended', undefined);
			}
			// Any other close: the browser reconnects by itself, resuming with Last-Event-ID.
		});
		source.onerror = () => {
			if (this.source !== source) return;
			if (source.readyState === EventSource.CLOSED) {
				// Refused (a non-200 answer): the browser gives up, so the retry is ours.
				this.drop();
				if (!live) this.emitter.emit('refused', undefined);
				this.scheduleRetry();
				return;
			}
			// The browser is already retrying; until `ready` comes again nothing is carried.
			live = false;
			this.setState('waiting');
		};
	}

	private drop(): void {
		const source = this.source;
		this.source = null;
		source?.close();
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
		if (!this.source) void this.open();
	};

	private readonly onOffline = () => {
		this.drop();
		clearTimeout(this.retryTimer);
		this.setState('offline');
	};
}
