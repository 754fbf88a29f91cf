/**
 * The event bus across instances: PostgreSQL LISTEN/NOTIFY on one channel. Notes travel as small
 * hints (user ids, cursors, typing/presence events; never message bodies), and a receiver reads the
 * log itself, so a lost notification only delays an event. Also keeps a rough map of which users
 * have push connections on other instances, so presence holds across instances.
 */
import { randomBytes } from 'node:crypto';
import { databaseTimeouts, type DatabaseTimeouts } from './config';
import { createPostgresClient, type PostgresSql } from './db/postgres-client';
import { countReceived, InProcessBus, resyncNote, runPublished, type EventBus, type Listener, type Note, type RevokedNote } from './bus';
import { InstancePresence, isPresenceWire, type Flag } from './bus-presence';
import { fromWire, toWire, type WireNote } from './bus-wire';
import { metrics } from './metrics';
import { log } from './log';

const CHANNEL = 'duet_bus';
/** NOTIFY refuses payloads of 8000 bytes or more; stay well clear, with room for the envelope. */
const MAX_PAYLOAD_BYTES = 7000;
/** Past this many unsent notes (database unreachable for long), the oldest are dropped. */
const MAX_QUEUED_NOTES = 100_000;

interface Packet {
	i: string;
	/** When it was sent (ms since the epoch, the sender's clock): the bus lag metric. */
	t?: number;
	f?: Flag;
	n?: WireNote[];
}

interface Outgoing {
	flag?: Flag;
	notes: WireNote[];
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
	private readonly presence: InstancePresence;
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
		this.presence = new InstancePresence(this.heartbeatMs, this.peerExpiryMs, (flag, notes) => this.enqueue({ flag, notes }));
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
		return this.presence.onlineElsewhere(userId);
	}

	setLocalPresence(userId: string, online: boolean, announced = true): void {
		this.presence.setLocal(userId, online, announced);
	}

	onRevoked(handler: (note: RevokedNote) => void): void {
		this.local.onRevoked(handler);
	}

	onPublished(handler: (notes: Note[]) => void): void {
		this.publishedHandlers.push(handler);
	}

	onPresenceGone(handler: (userId: string) => void): void {
		this.presence.onGone(handler);
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
		this.presence.close();
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
			log.warn('Event bus: LISTEN connection re-established; resyncing local streams');
			for (const userId of this.local.userIds()) this.local.publish([resyncNote(userId)]);
		}
		this.presence.joined();
	}

	private receive(payload: string) {
		let packet: Packet;
		try {
			packet = JSON.parse(payload);
		} catch {
			return;
		}
		if (!packet || typeof packet.i !== 'string') return;
		if (packet.i !== this.instanceId && typeof packet.t === 'number') metrics.busLag.observe(Math.max(0, Date.now() - packet.t) / 1000);
		if (packet.i === this.instanceId) {
			// Our own notes were delivered locally already; only the heartbeat's echo matters.
			if (packet.f === 'hb') this.heartbeatEchoed = true;
			return;
		}
		const wires: unknown[] = Array.isArray(packet.n) ? packet.n : [];
		const notes = wires.filter((wire) => !isPresenceWire(wire)).flatMap((wire) => fromWire(wire) ?? []);
		countReceived(this.local, notes);
		if (notes.length) this.local.publish(notes);
		this.presence.heard(packet.i, packet.f, wires.filter(isPresenceWire));
	}

	/** Says "alive", forgets silent peers, and replaces a LISTEN connection that stopped hearing us. */
	private beat() {
		if (this.closed) return;
		const now = Date.now();
		this.presence.expire(now);
		if (!this.heartbeatEchoed && now - this.heartbeatSentAt >= this.heartbeatMs / 2) {
			// The last heartbeat went out but never came back: the LISTEN connection is dead or
			// half-open without the driver noticing. A fresh one resyncs on its first LISTEN.
			log.warn('Event bus: LISTEN connection stopped hearing this instance; reconnecting');
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
							log.error({ err: error, batches: items.length }, 'Event bus: dropping notification batches');
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

/** Packs queued items into NOTIFY payloads under the size limit; a flag starts a packet of its own. */
function packets(instanceId: string, items: Outgoing[]): string[] {
	const out: string[] = [];
	const envelope = (flag: Flag | undefined) => `{"i":${JSON.stringify(instanceId)},"t":${Date.now()}${flag ? `,"f":"${flag}"` : ''},"n":[`;
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
				log.error('Event bus: a note is too large to notify; dropped');
				continue;
			}
			body.push(json);
			size += bytes;
		}
	}
	close();
	return out;
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
