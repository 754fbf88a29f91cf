/**
 * The part of a push transport that does not depend on what carries it: the connection state and
 * its listeners, reconnecting with full-jitter backoff (1 s → 30 s), and following the browser
 * offline, online and (optionally) back to a visible tab. A transport hands it a `Wire` that opens
 * and drops its one connection, and reports back how that connection went.
 */
import { fullJitter } from './backoff';
import type { ClientFrame } from '$lib/schemas';
import type { ServerFrame } from '$lib/types';
import { Emitter, type ConnectionState, type Transport, type TransportEvents } from './transport';

/** What a transport knows about its own connection; the lifecycle decides when to call it. */
export interface Wire {
	/** Whether a connection is held, whether or not it is live yet. */
	held(): boolean;
	/** Opens a connection that resumes after `cursor`, and reports through `live` or `lost`. */
	open(cursor: string | null): void;
	/** Lets go of the connection; nothing about it is reported afterwards. */
	drop(): void;
	/** Asks a held connection for a sign of life, for a link that may have died unnoticed. */
	check?(): void;
}

export interface LifecycleOptions {
	random?: () => number;
	/** Reconnect at once, skipping the backoff, when a hidden tab becomes visible again. */
	reconnectOnVisible?: boolean;
}

export class ConnectionLifecycle {
	private readonly emitter = new Emitter<TransportEvents>();
	private readonly random: () => number;
	private readonly reconnectOnVisible: boolean;
	private cursor: (() => Promise<string | null>) | null = null;
	private attempt = 0;
	private retryTimer: ReturnType<typeof setTimeout> | undefined;
	private stopped = false;
	private current: ConnectionState = 'connecting';

	constructor(
		private readonly wire: Wire,
		options: LifecycleOptions = {}
	) {
		this.random = options.random ?? Math.random;
		this.reconnectOnVisible = options.reconnectOnVisible ?? false;
	}

	get state(): ConnectionState {
		return this.current;
	}

	on<K extends keyof TransportEvents>(event: K, listener: (value: TransportEvents[K]) => void): () => void {
		return this.emitter.on(event, listener);
	}

	emit<K extends keyof TransportEvents>(event: K, value: TransportEvents[K]): void {
		this.emitter.emit(event, value);
	}

	setState(state: ConnectionState): void {
		if (state === this.current) return;
		this.current = state;
		this.emitter.emit('state', state);
	}

	start(cursor: () => Promise<string | null>): void {
		this.cursor = cursor;
		this.stopped = false;
		addEventListener('online', this.onOnline);
		addEventListener('offline', this.onOffline);
		if (this.reconnectOnVisible) document.addEventListener('visibilitychange', this.onVisible);
		void this.open();
	}

	stop(): void {
		this.stopped = true;
		removeEventListener('online', this.onOnline);
		removeEventListener('offline', this.onOffline);
		if (this.reconnectOnVisible) document.removeEventListener('visibilitychange', this.onVisible);
		this.wire.drop();
		clearTimeout(this.retryTimer);
		this.setState('closed');
	}

	/** Opens a connection now unless one is held, asking for the cursor at the last moment. */
	async open(): Promise<void> {
		if (this.stopped || this.wire.held()) return;
		clearTimeout(this.retryTimer);
		if (!navigator.onLine) {
			this.setState('offline');
			return;
		}
		this.setState('connecting');
		const cursor = this.cursor ? await this.cursor() : null;
		// The cursor is awaited: the transport may have been closed, or opened elsewhere, meanwhile.
		if (this.stopped || this.wire.held()) return;
		this.wire.open(cursor);
	}

	/** The server said `ready`: the next failure starts the backoff over. */
	live(): void {
		this.attempt = 0;
		this.setState('live');
	}

	/** The connection is gone (the wire has already dropped it): try again after a backoff wait. */
	lost(): void {
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
		if (this.wire.held()) this.wire.check?.();
		else void this.open();
	};

	/** Emulated or real, "offline" means the connection cannot carry anything: stop pretending. */
	private readonly onOffline = () => {
		this.wire.drop();
		clearTimeout(this.retryTimer);
		this.setState('offline');
	};

	private readonly onVisible = () => {
		if (document.visibilityState !== 'visible') return;
		if (this.wire.held()) this.wire.check?.();
		else {
			this.attempt = 0;
			void this.open();
		}
	};
}

/**
 * A transport over one kind of connection: what the sync engine and the outbox call, handed to
 * the lifecycle, with the carrier's own parts (the Wire and `send`) left to the subclass.
 */
export abstract class LifecycleTransport implements Transport {
	protected readonly lifecycle: ConnectionLifecycle;

	constructor(options: LifecycleOptions) {
		this.lifecycle = new ConnectionLifecycle(
			{ held: () => this.held(), open: (cursor) => this.open(cursor), drop: () => this.drop(), check: () => this.check() },
			options
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

	close(): void {
		this.lifecycle.stop();
	}

	abstract send(frame: ClientFrame): boolean;
	protected abstract held(): boolean;
	protected abstract open(cursor: string | null): void;
	protected abstract drop(): void;
	/** See Wire.check; a carrier whose browser API watches the link itself has nothing to do. */
	protected check(): void {}

	/**
	 * A frame as it arrived, or null for one that is not JSON (skipped: the next `ready` or resume
	 * makes up for it). `ready` makes the stream live before anyone hears of it.
	 */
	protected receive(data: unknown): ServerFrame | null {
		let frame: ServerFrame;
		try {
			frame = JSON.parse(String(data)) as ServerFrame;
		} catch {
			return null;
		}
		if (frame.type === 'ready') this.lifecycle.live();
		return frame;
	}
}
