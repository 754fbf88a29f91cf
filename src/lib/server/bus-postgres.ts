/**
 * The event bus across instances: PostgreSQL LISTEN/NOTIFY on one channel. Notes travel as small
 * hints (user ids, cursors, typing/presence events; never message bodies), and a receiver reads the
 * log itself, so a lost notification only delays an event. Also keeps a rough map of which users
 * have push connections on other instances, so presence holds across instances.
 */
import { randomBytes } from 'node:crypto';
import type { EphemeralEvent } from '$lib/types';
import { databaseTimeouts, type DatabaseTimeouts } from './config';
import { createPostgresClient, type PostgresSql } from './db/postgres-client';
import { InProcessBus, resyncNote, runPublished, type EventBus, type Listener, type Note, type RevokedNote } from './bus';

const CHANNEL = 'duet_bus';
/** NOTIFY refuses payloads of 8000 bytes or more; stay well clear, with room for the envelope. */
const MAX_PAYLOAD_BYTES = 7000;
/** Past this many unsent notes (database unreachable for long), the oldest are dropped. */
const MAX_QUEUED_NOTES = 100_000;

/** One note on the wire, as compact as it gets: kind, user id, then the kind's data. */
type WireNote =
	| ['e', string, number]
	| ['x', string, EphemeralEvent]
	| ['r', string, string[] | 'all']
	/**
	 * This instance now has (1) or no longer has (0) push connections of the user; the fourth item
	 * is 0 when it did not announce "offline" because it believed the user online elsewhere.
	 */
	| ['p', string, 0 | 1, (0 | 1)?];

/**
 * hello: "I (re)joined: forget what you knew of me, here is my state, send me yours";
 * reset: "forget what you knew of me, here is my state"; hb: "still here"; bye: "gone".
 */
type Flag = 'hello' | 'reset' | 'hb' | 'bye';

interface Packet {
	i: string;
	f?: Flag;
	n?: WireNote[];
}

interface Outgoing {
	flag?: Flag;
	notes: WireNote[];
}

interface Peer {
	users: Set<string>;
	seenAt: number;
}

export interface PostgresBusOptions {
	/** How often this instance says it is alive and checks that its own LISTEN still hears it. */
	heartbeatMs?: number;
	/** An instance not heard from for this long is taken as gone (crashed), with its presence. */
	peerExpiryMs?: number;
	timeouts?: DatabaseTimeouts;
}

/** While the LISTEN connection cannot be opened, it is tried again this often. */
const RELISTEN_MS = 250;

export class PostgresBus implements EventBus {
	readonly instanceId = randomBytes(6).toString('hex');
	private readonly local = new InProcessBus();
	private readonly notifier: PostgresSql;
	private listener?: PostgresSql;
	private relistenTimer?: ReturnType<typeof setTimeout>;
	private readonly timeouts: DatabaseTimeouts;
	private readonly peers = new Map<string, Peer>();
	private readonly localOnline = new Set<string>();
	private presenceGone?: (userId: string) => void;
	/** Kept here, not on `local`: that one also delivers the notes other instances relay. */
	private readonly publishedHandlers: ((notes: Note[]) => void)[] = [];
	private outbox: Outgoing[] = [];
	private queued = 0;
	private pumping?: Promise<void>;
	private heartbeat?: ReturnType<typeof setInterval>;
	private heartbeatSentAt = 0;
	private heartbeatEchoed = true;
	private listens = 0;
	/** A notification failed since the last one that went out. */
	private unreachable = false;
	private closed = false;
	private closing?: Promise<void>;
	private readonly heartbeatMs: number;
	private readonly peerExpiryMs: number;

	private constructor(
		private readonly url: string,
		options: PostgresBusOptions
	) {
		this.heartbeatMs = options.heartbeatMs ?? 10_000;
		this.peerExpiryMs = options.peerExpiryMs ?? 4 * this.heartbeatMs;
		this.timeouts = options.timeouts ?? databaseTimeouts();
		// One connection of its own, so notifications leave in the order they were published.
		this.notifier = createPostgresClient(url, this.timeouts, { max: 1, applicationName: 'duet-notify' });
	}

	/** Connects the LISTEN side before resolving, so nothing published after start-up is missed. */
	static async start(url: string, options: PostgresBusOptions = {}): Promise<PostgresBus> {
		const bus = new PostgresBus(url, options);
		await bus.listen();
		bus.heartbeat = setInterval(() => bus.beat(), bus.heartbeatMs);
		bus.heartbeat.unref?.();
		return bus;
	}

	publish(notes: Note[]): void {
		// Local connections get the rendered event at once; other instances get hints.
		this.local.publish(notes);
		this.enqueue({ notes: notes.flatMap(toWire) });
		runPublished(this.publishedHandlers, notes);
	}

	subscribe(userId: string, listener: Listener): () => void {
		return this.local.subscribe(userId, listener);
	}

	/** Whether another live instance has push connections of this user. */
	onlineElsewhere(userId: string): boolean {
		for (const peer of this.peers.values()) if (peer.users.has(userId)) return true;
		return false;
	}

	setLocalPresence(userId: string, online: boolean, announced = true): void {
		if (online) this.localOnline.add(userId);
		else this.localOnline.delete(userId);
		this.enqueue({ notes: [online ? ['p', userId, 1] : ['p', userId, 0, announced ? 1 : 0]] });
	}

	onRevoked(handler: (note: RevokedNote) => void): void {
		this.local.onRevoked(handler);
	}

	onPublished(handler: (notes: Note[]) => void): void {
		this.publishedHandlers.push(handler);
	}

	onPresenceGone(handler: (userId: string) => void): void {
		this.presenceGone = handler;
	}

	/** Nobody here or elsewhere has the user connected any more: make sure their peers hear it. */
	private checkGone(userId: string) {
		if (this.closed || this.localOnline.has(userId) || this.onlineElsewhere(userId)) return;
		try {
			this.presenceGone?.(userId);
		} catch (error) {
			console.error('Presence handler failed:', error);
		}
	}

	close(): Promise<void> {
		this.closing ??= this.end();
		return this.closing;
	}

	private async end(): Promise<void> {
		clearInterval(this.heartbeat);
		clearTimeout(this.relistenTimer);
		// Whatever the shutdown just committed must still reach the other instances.
		this.enqueue({ flag: 'bye', notes: [] });
		await withTimeout(this.pump(), 3000);
		this.closed = true;
		await Promise.allSettled([this.listener?.end({ timeout: 1 }), this.notifier.end({ timeout: 1 })]);
		await this.local.close();
	}

	// ── receiving ──────────────────────────────────────────────────────────────────────────────

	private async listen(): Promise<void> {
		const listener = createPostgresClient(this.url, this.timeouts, { max: 1, applicationName: 'duet-listen' });
		this.listener = listener;
		this.heartbeatEchoed = true;
		await listener.listen(
			CHANNEL,
			(payload) => {
				if (this.listener === listener) this.receive(payload);
			},
			() => {
				if (this.listener === listener) this.onListen();
			}
		);
	}

	/**
	 * Replaces the LISTEN connection, and keeps trying while the database is away: postgres.js
	 * re-LISTENs once after its connection closes and gives up if that fails, and the heartbeat
	 * would only notice after one or two of its intervals.
	 */
	private relisten() {
		if (this.closed || this.relistenTimer) return;
		const stale = this.listener;
		this.listener = undefined;
		stale?.end({ timeout: 0 }).catch(() => {});
		this.listen().catch(() => {
			this.relistenTimer = setTimeout(() => {
				this.relistenTimer = undefined;
				this.relisten();
			}, RELISTEN_MS);
			this.relistenTimer.unref?.();
		});
	}

	/** Runs on the first LISTEN and after every reconnect of the LISTEN connection. */
	private onListen() {
		if (this.listens++ > 0) {
			// Notifications sent while the connection was down are gone: every local stream re-reads
			// its log after its cursor, which is exactly what it missed.
			console.warn('Event bus: LISTEN connection re-established; resyncing local streams');
			for (const userId of this.local.userIds()) this.local.publish([resyncNote(userId)]);
		}
		this.enqueue({ flag: 'hello', notes: this.presenceSnapshot() });
	}

	private receive(payload: string) {
		let packet: Packet;
		try {
			packet = JSON.parse(payload);
		} catch {
			return;
		}
		if (!packet || typeof packet.i !== 'string') return;
		if (packet.i === this.instanceId) {
			// Our own notes were delivered locally already; only the heartbeat's echo matters.
			if (packet.f === 'hb') this.heartbeatEchoed = true;
			return;
		}
		let peer = this.peers.get(packet.i);
		if (!peer) this.peers.set(packet.i, (peer = { users: new Set(), seenAt: 0 }));
		peer.seenAt = Date.now();
		if (packet.f === 'hello' || packet.f === 'reset') peer.users.clear();
		if (packet.f === 'hello') this.enqueue({ flag: 'reset', notes: this.presenceSnapshot() });
		const notes: Note[] = [];
		for (const wire of Array.isArray(packet.n) ? packet.n : []) {
			if (Array.isArray(wire) && wire[0] === 'p' && typeof wire[1] === 'string') {
				if (wire[2] === 1) peer.users.add(wire[1]);
				else if (peer.users.delete(wire[1]) && wire[3] === 0) this.checkGone(wire[1]);
				continue;
			}
			const note = fromWire(wire);
			if (note) notes.push(note);
		}
		if (notes.length) this.local.publish(notes);
		if (packet.f === 'bye') {
			this.peers.delete(packet.i);
			// Its users are reconnecting elsewhere; those who have not after a while went offline.
			const users = [...peer.users];
			setTimeout(() => users.forEach((userId) => this.checkGone(userId)), this.heartbeatMs).unref?.();
		}
	}

	private presenceSnapshot(): WireNote[] {
		return [...this.localOnline].map((userId): WireNote => ['p', userId, 1]);
	}

	/** Says "alive", forgets silent peers, and replaces a LISTEN connection that stopped hearing us. */
	private beat() {
		if (this.closed) return;
		const now = Date.now();
		for (const [id, peer] of this.peers) {
			if (now - peer.seenAt <= this.peerExpiryMs) continue;
			// A crashed instance: its users are offline unless they reconnected somewhere.
			console.warn(`Event bus: instance ${id} went silent; forgetting its ${peer.users.size} online users`);
			this.peers.delete(id);
			for (const userId of peer.users) this.checkGone(userId);
		}
		if (!this.heartbeatEchoed && now - this.heartbeatSentAt >= this.heartbeatMs / 2) {
			// The last heartbeat went out but never came back: the LISTEN connection is dead or
			// half-open without the driver noticing. A fresh one resyncs on its first LISTEN.
			console.warn('Event bus: LISTEN connection stopped hearing this instance; reconnecting');
			this.relisten();
			return;
		}
		this.enqueue({ flag: 'hb', notes: [] });
	}

	// ── sending ────────────────────────────────────────────────────────────────────────────────

	private enqueue(item: Outgoing) {
		if (this.closed) return;
		if (!item.flag && item.notes.length === 0) return;
		this.outbox.push(item);
		this.queued += item.notes.length;
		while (this.queued > MAX_QUEUED_NOTES && this.outbox.length > 1) {
			const dropped = this.outbox.shift()!;
			this.queued -= dropped.notes.length;
		}
		void this.pump();
	}

	/** One sender at a time; whatever queues up meanwhile leaves together in the next round. */
	private pump(): Promise<void> {
		this.pumping ??= (async () => {
			try {
				for (let failures = 0; this.outbox.length && !this.closed;) {
					const items = this.outbox;
					this.outbox = [];
					this.queued = 0;
					const payloads = packets(this.instanceId, items);
					const heartbeat = items.some((item) => item.flag === 'hb');
					try {
						if (heartbeat) {
							this.heartbeatSentAt = Date.now();
							this.heartbeatEchoed = false;
						}
						// Queued on one connection, these are pipelined and delivered in order.
						await Promise.all(payloads.map((payload) => this.notifier`select pg_notify(${CHANNEL}, ${payload})`));
						// The database was away: the LISTEN connection most likely lost it too, and
						// postgres.js may have given up re-listening. A fresh one resyncs the streams.
						if (failures > 0 || this.unreachable) this.relisten();
						failures = 0;
						this.unreachable = false;
					} catch (error) {
						if (heartbeat) this.heartbeatEchoed = true; // unsent: no echo to expect
						failures++;
						this.unreachable = true;
						if (failures > 5) {
							console.error(`Event bus: dropping ${items.length} notification batches:`, (error as Error).message);
							failures = 0;
							continue; // streams on other instances catch up on their next hint or resync
						}
						this.outbox = [...items, ...this.outbox];
						this.queued += items.reduce((n, item) => n + item.notes.length, 0);
						await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** failures));
					}
				}
			} finally {
				this.pumping = undefined;
			}
		})();
		return this.pumping;
	}
}

function toWire(note: Note): WireNote[] {
	switch (note.kind) {
		case 'event':
			return [['e', note.userId, note.seq]];
		case 'ephemeral':
			return [['x', note.userId, note.event]];
		case 'revoked':
			if (note.sessionIds === 'all') return [['r', note.userId, 'all']];
			// Many session ids could outgrow one notification; a few per note always fit.
			return chunk(note.sessionIds, 50).map((ids): WireNote => ['r', note.userId, ids]);
	}
}

function fromWire(wire: unknown): Note | undefined {
	if (!Array.isArray(wire) || typeof wire[1] !== 'string') return undefined;
	const [kind, userId, data] = wire as [string, string, unknown];
	switch (kind) {
		case 'e':
			return typeof data === 'number' ? { kind: 'event', userId, seq: data } : undefined;
		case 'x':
			return data && typeof data === 'object' ? { kind: 'ephemeral', userId, event: data as EphemeralEvent } : undefined;
		case 'r':
			return data === 'all' || (Array.isArray(data) && data.every((s) => typeof s === 'string'))
				? { kind: 'revoked', userId, sessionIds: data as string[] | 'all' }
				: undefined;
	}
	return undefined;
}

/** Packs queued items into NOTIFY payloads under the size limit; a flag starts a packet of its own. */
function packets(instanceId: string, items: Outgoing[]): string[] {
	const out: string[] = [];
	const envelope = (flag: Flag | undefined) => `{"i":${JSON.stringify(instanceId)}${flag ? `,"f":"${flag}"` : ''},"n":[`;
	let head = '';
	let body: string[] = [];
	let size = 0;
	const close = () => {
		if (head) out.push(`${head}${body.join(',')}]}`);
		head = '';
		body = [];
	};
	for (const item of items) {
		if (item.flag || !head) {
			close();
			head = envelope(item.flag);
			size = Buffer.byteLength(head) + 2;
		}
		for (const note of item.notes) {
			const json = JSON.stringify(note);
			const bytes = Buffer.byteLength(json) + 1;
			if (body.length && size + bytes > MAX_PAYLOAD_BYTES) {
				close();
				head = envelope(undefined); // the flag belongs to the first packet only
				size = Buffer.byteLength(head) + 2;
			}
			if (bytes > MAX_PAYLOAD_BYTES) {
				console.error('Event bus: a note is too large to notify; dropped');
				continue;
			}
			body.push(json);
			size += bytes;
		}
	}
	close();
	return out;
}

function chunk<T>(items: T[], size: number): T[][] {
	const out: T[][] = [];
	for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
	return out.length ? out : [[]];
}

function withTimeout(promise: Promise<void>, ms: number): Promise<void> {
	return new Promise((resolve) => {
		const timer = setTimeout(resolve, ms);
		promise.finally(() => {
			clearTimeout(timer);
			resolve();
		});
	});
}
