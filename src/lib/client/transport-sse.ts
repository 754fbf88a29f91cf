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
import { CLOSE, EVENT_TYPES } from '$lib/protocol';
import type { ClientFrame } from '$lib/schemas';
import { createApi, type Api } from './api';
import { LifecycleTransport } from './transport-lifecycle';

export interface SseTransportOptions {
	url?: (cursor: string | null) => string;
	api?: Pick<Api, 'send' | 'change' | 'receipt' | 'typing' | 'typingStopped'>;
	random?: () => number;
}

function defaultUrl(cursor: string | null): string {
	return cursor ? `/api/events?cursor=${encodeURIComponent(cursor)}` : '/api/events';
}

export class SseTransport extends LifecycleTransport {
	private readonly url: (cursor: string | null) => string;
	private readonly api: Pick<Api, 'send' | 'change' | 'receipt' | 'typing' | 'typingStopped'>;
	/** Settles once the latest send's request is answered (its message committed, or refused). */
	private lastSend: Promise<void> = Promise.resolve();
	private source: EventSource | null = null;

	constructor(options: SseTransportOptions = {}) {
		super({ random: options.random });
		this.url = options.url ?? defaultUrl;
		this.api = options.api ?? createApi();
	}

	send(frame: ClientFrame): boolean {
		if (this.lifecycle.state !== 'live') return false;
		switch (frame.type) {
			case 'send': {
				const { type: _type, ...input } = frame;
				const request = this.api.send(input);
				this.lastSend = request.then(
					() => {},
					() => {}
				);
				request.then((ack) => this.lifecycle.emit('frame', { type: 'ack', ...ack }), this.errorFrame(input.id));
				return true;
			}
			case 'change':
				this.api
					.change(frame.change)
					.then(({ message }) => this.lifecycle.emit('frame', { type: 'changed', id: frame.id, message }), this.errorFrame(frame.id));
				return true;
			case 'receipt': {
				const { type: _type, ...input } = frame;
				// Receipts are cumulative: a lost one is covered by the next, and `ready` re-sends what is owed.
				this.api.receipt(input).catch(() => {});
				return true;
			}
			// On their own connections, typing could overtake the message sent before it (which would end that typing).
			case 'typing':
				this.lastSend.then(() => this.api.typing(frame.conversationId)).catch(() => {});
				return true;
			case 'typing_stopped':
				this.lastSend.then(() => this.api.typingStopped(frame.conversationId)).catch(() => {});
				return true;
			case 'ping':
				return true;
		}
	}

	/** An HTTP failure as the error frame the WebSocket would have sent, naming the request's id. */
	private errorFrame(id: string) {
		return (error: unknown) => {
			const e = error instanceof AppError ? error : new AppError('unavailable', 'The server cannot be reached.');
			this.lifecycle.emit('frame', { type: 'error', code: e.code, message: e.message, id, retryAfter: e.retryAfter });
		};
	}

	protected held(): boolean {
		return this.source !== null;
	}

	protected open(cursor: string | null): void {
		const source = new EventSource(this.url(cursor));
		this.source = source;
		let live = false;
		const onEvent = (event: MessageEvent) => {
			if (this.source !== source) return;
			const frame = this.receive(event.data);
			if (!frame) return;
			if (frame.type === 'ready') live = true;
			this.lifecycle.emit('frame', frame);
		};
		// Every push event type, from the one list; `close` is the server's goodbye, not a push event.
		for (const type of EVENT_TYPES) source.addEventListener(type, onEvent);
		source.addEventListener('close', (event) => {
			if (this.source !== source) return;
			let code = 0;
			try {
				code = Number((JSON.parse(String((event as MessageEvent).data)) as { code?: unknown }).code);
			} catch {
				// A goodbye we cannot read is treated as an ordinary drop.
			}
			if (code === CLOSE.sessionEnded) {
				this.drop();
				this.lifecycle.emit('ended', undefined);
			}
			// Any other close: the browser reconnects by itself, resuming with Last-Event-ID.
		});
		source.onerror = () => {
			if (this.source !== source) return;
			if (source.readyState === EventSource.CLOSED) {
				// Refused (a non-200 answer): the browser gives up, so the retry is ours.
				this.drop();
				if (!live) this.lifecycle.emit('refused', undefined);
				this.lifecycle.lost();
				return;
			}
			// The browser is already retrying; until `ready` comes again nothing is carried.
			live = false;
			this.lifecycle.setState('waiting');
		};
	}

	protected drop(): void {
		const source = this.source;
		this.source = null;
		source?.close();
	}
}
