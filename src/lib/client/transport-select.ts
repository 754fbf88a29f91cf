/**
 * Picks the carrier of the stream. WebSocket first; SSE + POST when the WebSocket cannot work
 * here: the upgrade is refused, the socket closes before `ready` (a proxy that accepts and then
 * hangs up at once), or no `ready` arrives within READY_TIMEOUT_MS (a proxy that swallows frames).
 * While on the fallback, a WebSocket is probed in the background with backoff; the first probe
 * that hears `ready` becomes the stream and the SSE stream is closed. The probe resumes from the
 * sync engine's cursor, so the hand-over can only replay events (idempotent), never skip one.
 *
 * A WebSocket that failed while SSE worked is remembered for this origin (localStorage, with an
 * expiry), so the next page load starts on SSE at once instead of waiting out the same failure.
 * `?transport=ws|sse` (kept for the tab) or the localStorage key `duet:transport` forces a carrier.
 */
import type { ClientFrame } from '$lib/schemas';
import type { ServerFrame } from '$lib/types';
import type { BackoffPolicy } from './backoff';
import { Emitter, type ConnectionState, type Transport, type TransportEvents, type TransportKind } from './transport';
import { SseTransport } from './transport-sse';
import { WsTransport } from './transport-ws';

export const READY_TIMEOUT_MS = 4_000;
/** Remembered for a day at most: networks change, and a probe will find a working WebSocket anyway. */
export const WS_FAILED_TTL_MS = 24 * 60 * 60 * 1000;
export const WS_FAILED_KEY = 'duet:ws-failed-until';
export const FORCE_KEY = 'duet:transport';
export const PROBE_BACKOFF: BackoffPolicy = { baseMs: 2_000, capMs: 30_000 };

type StorageLike = Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>;

export interface SelectOptions {
	ws?: () => Transport;
	sse?: () => Transport;
	/** Where the failed-WebSocket memory and the forcing setting live (localStorage). */
	storage?: StorageLike | null;
	/** Per-tab storage that keeps a URL flag across in-app navigation (sessionStorage). */
	session?: StorageLike | null;
	/** The page's query string, for `?transport=`. */
	search?: string;
	now?: () => number;
	random?: () => number;
}

function safeStorage(get: () => Storage): StorageLike | null {
	try {
		return get();
	} catch {
		// Storage can be disabled (privacy settings, sandboxed frames): then nothing is remembered.
		return null;
	}
}

function asKind(value: string | null | undefined): TransportKind | null {
	return value === 'ws' || value === 'sse' ? value : null;
}

/**
 * The carrier forced for diagnosis, if any: `?transport=ws|sse` (remembered for the tab;
 * `?transport=auto` clears it), else the persistent localStorage setting `duet:transport`.
 */
function forcedTransport(search: string, session: StorageLike | null, storage: StorageLike | null): TransportKind | null {
	const flag = new URLSearchParams(search).get('transport');
	try {
		if (flag === 'auto') session?.removeItem(FORCE_KEY);
		else if (asKind(flag)) session?.setItem(FORCE_KEY, flag!);
		return asKind(flag) ?? asKind(session?.getItem(FORCE_KEY)) ?? asKind(storage?.getItem(FORCE_KEY));
	} catch {
		return asKind(flag);
	}
}

export class SelectingTransport implements Transport {
	private readonly emitter = new Emitter<TransportEvents>();
	private readonly makeWs: () => Transport;
	private readonly makeSse: () => Transport;
	private readonly storage: StorageLike | null;
	private readonly now: () => number;
	private readonly random: () => number;
	readonly forced: TransportKind | null;
	private active: Transport | null = null;
	private currentKind: TransportKind = 'ws';
	private lastState: ConnectionState = 'connecting';
	private cursor: () => Promise<string | null> = async () => null;
	private readyTimer: ReturnType<typeof setTimeout> | undefined;
	private probe: Transport | null = null;
	private probeTimer: ReturnType<typeof setTimeout> | undefined;
	private probeAttempt = 0;
	/** The WebSocket failed on this page; SSE going live confirms it is the network, not the server. */
	private wsFailed = false;
	private stopped = false;

	constructor(options: SelectOptions = {}) {
		this.makeWs = options.ws ?? (() => new WsTransport());
		this.makeSse = options.sse ?? (() => new SseTransport());
		this.storage = options.storage !== undefined ? options.storage : safeStorage(() => localStorage);
		const session = options.session !== undefined ? options.session : safeStorage(() => sessionStorage);
		this.now = options.now ?? Date.now;
		this.random = options.random ?? Math.random;
		this.forced = forcedTransport(options.search ?? (typeof location === 'undefined' ? '' : location.search), session, this.storage);
	}

	get state(): ConnectionState {
		return this.lastState;
	}

	get kind(): TransportKind {
		return this.currentKind;
	}

	on<K extends keyof TransportEvents>(event: K, listener: (value: TransportEvents[K]) => void): () => void {
		return this.emitter.on(event, listener);
	}

	connect(cursor: () => Promise<string | null>): void {
		this.cursor = cursor;
		this.stopped = false;
		const start = this.forced ?? (this.rememberedFailure() ? 'sse' : 'ws');
		if (start === 'ws') this.useWs(this.makeWs());
		else {
			this.useSse();
			if (!this.forced) this.scheduleProbe();
		}
	}

	send(frame: ClientFrame): boolean {
		return this.active?.send(frame) ?? false;
	}

	close(): void {
		this.stopped = true;
		clearTimeout(this.readyTimer);
		clearTimeout(this.probeTimer);
		this.probe?.close();
		this.probe = null;
		const active = this.active;
		this.active = null;
		active?.close();
		this.setState('closed');
	}

	// ---- carriers ---------------------------------------------------------------------------

	/** Forwards what an active carrier reports; a retired one still delivers the answers to its POSTs. */
	private attach(transport: Transport): void {
		transport.on('frame', (frame) => {
			if (this.active === transport || frame.type === 'ack' || frame.type === 'error') this.emitter.emit('frame', frame);
		});
		transport.on('state', (state) => {
			if (this.active === transport) this.setState(state);
		});
		transport.on('ended', () => {
			if (this.active === transport) this.emitter.emit('ended', undefined);
		});
		transport.on('refused', () => {
			if (this.active === transport) this.emitter.emit('refused', undefined);
		});
	}

	private useWs(ws: Transport, connected = false): void {
		this.setKind('ws');
		this.active = ws;
		this.attach(ws);
		ws.on('frame', (frame) => {
			if (this.active !== ws || frame.type !== 'ready') return;
			clearTimeout(this.readyTimer);
			this.readyTimer = undefined;
			this.forgetFailure();
		});
		ws.on('state', (state) => {
			if (this.active !== ws) return;
			if (state === 'connecting') this.armReadyTimer(ws);
			// Offline or between attempts, silence says nothing about the proxy.
			else if (state !== 'live') clearTimeout(this.readyTimer);
		});
		ws.on('refused', () => {
			if (this.active === ws) this.fallBack('the WebSocket closed before `ready`');
		});
		if (connected) {
			this.setState(ws.state);
			return;
		}
		ws.connect(this.cursor);
		this.setState(ws.state);
		if (ws.state === 'connecting') this.armReadyTimer(ws);
	}

	private armReadyTimer(ws: Transport): void {
		if (this.forced) return;
		clearTimeout(this.readyTimer);
		this.readyTimer = setTimeout(() => {
			if (this.active === ws && ws.state === 'connecting') this.fallBack(`no \`ready\` within ${READY_TIMEOUT_MS} ms`);
		}, READY_TIMEOUT_MS);
	}

	private useSse(): void {
		const sse = this.makeSse();
		this.setKind('sse');
		this.active = sse;
		this.attach(sse);
		sse.on('frame', (frame) => {
			if (this.active === sse && frame.type === 'ready' && this.wsFailed) this.rememberFailure();
		});
		sse.connect(this.cursor);
		this.setState(sse.state);
	}

	private fallBack(why: string): void {
		if (this.forced || this.stopped || this.currentKind === 'sse') return;
		// Said in the console so whoever diagnoses a network can see why the fallback is in use.
		console.info(`Duet: using the SSE + POST fallback (${why}); probing WebSocket in the background.`);
		clearTimeout(this.readyTimer);
		this.readyTimer = undefined;
		this.wsFailed = true;
		const ws = this.active;
		this.active = null;
		ws?.close();
		this.useSse();
		this.probeAttempt = 0;
		this.scheduleProbe();
	}

	// ---- probing ----------------------------------------------------------------------------

	/** Equal jitter: never sooner than half the ceiling, so a broken proxy is not hammered. */
	private scheduleProbe(): void {
		if (this.forced || this.stopped) return;
		const ceiling = Math.min(PROBE_BACKOFF.capMs, PROBE_BACKOFF.baseMs * 2 ** this.probeAttempt);
		const wait = ceiling / 2 + Math.floor((this.random() * ceiling) / 2);
		clearTimeout(this.probeTimer);
		this.probeTimer = setTimeout(() => this.startProbe(), wait);
	}

	private startProbe(): void {
		if (this.stopped || this.probe || this.currentKind !== 'sse') return;
		const probe = this.makeWs();
		this.probe = probe;
		// Whatever precedes `ready` (a `reset`) must reach the sync engine, in order, on promotion.
		const early: ServerFrame[] = [];
		const timer = setTimeout(() => this.failProbe(probe), READY_TIMEOUT_MS);
		probe.on('frame', (frame) => {
			if (this.probe !== probe) return;
			if (frame.type !== 'ready') {
				early.push(frame);
				return;
			}
			clearTimeout(timer);
			this.promote(probe, [...early, frame]);
		});
		probe.on('refused', () => {
			clearTimeout(timer);
			this.failProbe(probe);
		});
		probe.connect(this.cursor);
	}

	private failProbe(probe: Transport): void {
		if (this.probe !== probe) return;
		this.probe = null;
		probe.close();
		this.probeAttempt++;
		this.scheduleProbe();
	}

	private promote(probe: Transport, frames: ServerFrame[]): void {
		console.info('Duet: WebSocket works again; leaving the fallback.');
		this.probe = null;
		this.probeAttempt = 0;
		this.wsFailed = false;
		this.forgetFailure();
		const sse = this.active;
		this.active = null;
		sse?.close();
		this.useWs(probe, true);
		for (const frame of frames) this.emitter.emit('frame', frame);
	}

	// ---- state ------------------------------------------------------------------------------

	private setState(state: ConnectionState): void {
		if (state === this.lastState) return;
		this.lastState = state;
		this.emitter.emit('state', state);
	}

	private setKind(kind: TransportKind): void {
		if (kind === this.currentKind) return;
		this.currentKind = kind;
		this.emitter.emit('kind', kind);
	}

	private rememberedFailure(): boolean {
		try {
			return Number(this.storage?.getItem(WS_FAILED_KEY) ?? 0) > this.now();
		} catch {
			return false;
		}
	}

	private rememberFailure(): void {
		try {
			this.storage?.setItem(WS_FAILED_KEY, String(this.now() + WS_FAILED_TTL_MS));
		} catch {
			// Full or disabled storage: the next load just tries the WebSocket first again.
		}
	}

	private forgetFailure(): void {
		try {
			this.storage?.removeItem(WS_FAILED_KEY);
		} catch {
			// As above.
		}
	}
}
