/**
 * What the sync engine needs from a push connection, whatever carries it: WebSocket today,
 * SSE + POST later. A transport keeps itself connected (backoff, online/visibility triggers,
 * stale detection) and reports frames; the engine never sees sockets.
 */
import type { ClientFrame } from '$lib/schemas';
import type { ServerFrame } from '$lib/types';

/**
 * `connecting`: no live stream yet; `live`: the server said `ready`; `waiting`: between
 * attempts; `offline`: the browser says there is no network; `stale`: the stream went quiet
 * and is being replaced; `closed`: stopped for good.
 */
export type ConnectionState = 'connecting' | 'live' | 'waiting' | 'offline' | 'stale' | 'closed';

/** What carries the stream: a WebSocket, or the SSE + POST fallback. */
export type TransportKind = 'ws' | 'sse';

export interface TransportEvents {
	frame: ServerFrame;
	state: ConnectionState;
	/** A connection attempt ended before the stream went live (the session may be gone). */
	refused: undefined;
	/** The server closed the stream because this session was signed out. */
	ended: undefined;
	/** The transport selector moved the stream to another carrier. */
	kind: TransportKind;
}

export interface Transport {
	/** Starts connecting, and reconnecting, resuming from whatever `cursor()` returns each time. */
	connect(cursor: () => Promise<string | null>): void;
	/** Queues nothing: false when there is no live stream to carry the frame. */
	send(frame: ClientFrame): boolean;
	close(): void;
	on<K extends keyof TransportEvents>(event: K, listener: (value: TransportEvents[K]) => void): () => void;
	readonly state: ConnectionState;
}

/** A tiny typed emitter shared by transports. */
export class Emitter<E> {
	private listeners = new Map<keyof E, Set<(value: never) => void>>();

	on<K extends keyof E>(event: K, listener: (value: E[K]) => void): () => void {
		let set = this.listeners.get(event);
		if (!set) this.listeners.set(event, (set = new Set()));
		set.add(listener as (value: never) => void);
		return () => set.delete(listener as (value: never) => void);
	}

	emit<K extends keyof E>(event: K, value: E[K]): void {
		// A copy: a listener may add listeners (a probe promoted to the stream), which must not hear this value.
		for (const listener of [...(this.listeners.get(event) ?? [])]) (listener as (value: E[K]) => void)(value);
	}
}
