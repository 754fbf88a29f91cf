/**
 * The event bus across instances on NATS (BUS_URL=nats://…): one subject per user, and each
 * instance subscribed only to the users connected to it, so its bus work follows its own
 * connections rather than the whole cluster's traffic. Two subjects are shared by all:
 * revocations (every instance's session cache must forget an ended session) and presence (which
 * users are connected where, see bus-presence.ts). As with LISTEN/NOTIFY, notes are hints (user
 * ids, cursors, typing and presence; never a message body): PostgreSQL stays the one source of
 * truth, a stream re-reads its log on every hint, and after a lost connection every local stream
 * re-reads its log, so a lost, late or doubled note only delays an event.
 */
import { randomBytes } from 'node:crypto';
import { connect, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { countReceived, InProcessBus, resyncNote, runPublished, type EventBus, type Listener, type Note, type RevokedNote } from './bus';
import { InstancePresence, isPresenceWire, type Flag, type PresenceWire } from './bus-presence';
import { fromWire, toWire, type WireNote } from './bus-wire';
import { metrics } from './metrics';
import { log } from './log';

export interface NatsBusOptions {
	/** Every subject starts with it (BUS_SUBJECT_PREFIX), so deployments can share a NATS. */
	prefix?: string;
	/** How often this instance says it is alive to the others. */
	heartbeatMs?: number;
	/** An instance not heard from for this long is taken as gone (crashed), with its presence. */
	peerExpiryMs?: number;
}

interface Packet {
	/** The sending instance. */
	i: string;
	/** When it was sent (ms since the epoch, the sender's clock): the bus lag metric. */
	t?: number;
	f?: Flag;
	n?: unknown[];
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class NatsBus implements EventBus {
	readonly instanceId = randomBytes(6).toString('hex');
	private readonly local = new InProcessBus();
	private readonly presence: InstancePresence;
	/** One NATS subscription per user with listeners here. */
	private readonly userSubscriptions = new Map<string, { subscription: Subscription; listeners: number }>();
	private readonly publishedHandlers: ((notes: Note[]) => void)[] = [];
	private readonly heartbeat: ReturnType<typeof setInterval>;
	private closing?: Promise<void>;
	/** Messages received on users' subjects: what an instance's bus work grows with. */
	private userMessages = 0;

	private constructor(
		private readonly nc: NatsConnection,
		private readonly prefix: string,
		heartbeatMs: number,
		peerExpiryMs: number
	) {
		this.presence = new InstancePresence(heartbeatMs, peerExpiryMs, (flag, notes) => this.send(this.subject('presence'), flag, notes));
		this.nc.subscribe(this.subject('revoked'), { callback: this.onMessage });
		this.nc.subscribe(this.subject('presence'), { callback: this.onMessage });
		this.heartbeat = setInterval(() => {
			this.presence.expire();
			this.send(this.subject('presence'), 'hb', []);
		}, heartbeatMs);
		this.heartbeat.unref?.();
		void this.watch();
	}

	/** Connects before resolving (a NATS that cannot be reached stops the start); reconnects for ever after. */
	static async start(servers: string[], options: NatsBusOptions = {}): Promise<NatsBus> {
		const heartbeatMs = options.heartbeatMs ?? 10_000;
		const nc = await connect({
			servers,
			name: 'duet',
			// Notes published here were delivered here already.
			noEcho: true,
			maxReconnectAttempts: -1,
			reconnectTimeWait: 250,
			// A half-open connection is noticed within about two pings.
			pingInterval: Math.min(heartbeatMs, 5000),
			maxPingOut: 2,
			timeout: 5000
		});
		const bus = new NatsBus(nc, options.prefix ?? 'duet', heartbeatMs, options.peerExpiryMs ?? 4 * heartbeatMs);
		// The subscriptions above reach the server before the others hear that this instance joined.
		await nc.flush();
		bus.presence.joined();
		return bus;
	}

	publish(notes: Note[]): void {
		this.local.publish(notes);
		const bySubject = new Map<string, WireNote[]>();
		for (const note of notes) {
			const subject = note.kind === 'revoked' ? this.subject('revoked') : this.userSubject(note.userId);
			let wires = bySubject.get(subject);
			if (!wires) bySubject.set(subject, (wires = []));
			wires.push(...toWire(note));
		}
		for (const [subject, wires] of bySubject) this.send(subject, undefined, wires);
		runPublished(this.publishedHandlers, notes);
	}

	subscribe(userId: string, listener: Listener): () => void {
		const unsubscribe = this.local.subscribe(userId, listener);
		let entry = this.userSubscriptions.get(userId);
		if (!entry) {
			const subscription = this.nc.subscribe(this.userSubject(userId), { callback: this.onUserMessage });
			this.userSubscriptions.set(userId, (entry = { subscription, listeners: 0 }));
		}
		entry.listeners++;
		let done = false;
		return () => {
			if (done) return;
			done = true;
			unsubscribe();
			if (--entry.listeners > 0) return;
			this.userSubscriptions.delete(userId);
			if (!this.nc.isClosed()) entry.subscription.unsubscribe();
		};
	}

	onRevoked(handler: (note: RevokedNote) => void): void {
		this.local.onRevoked(handler);
	}

	onPublished(handler: (notes: Note[]) => void): void {
		this.publishedHandlers.push(handler);
	}

	onlineElsewhere(userId: string): boolean {
		return this.presence.onlineElsewhere(userId);
	}

	setLocalPresence(userId: string, online: boolean, announced = true): void {
		this.presence.setLocal(userId, online, announced);
	}

	onPresenceGone(handler: (userId: string) => void): void {
		this.presence.onGone(handler);
	}

	/** Users with a subscription here (for tests: the bus work follows the local connections). */
	subscribedUsers(): string[] {
		return [...this.userSubscriptions.keys()];
	}

	/** How many messages arrived on users' subjects. */
	received(): number {
		return this.userMessages;
	}

	/** Resolves once the NATS server has processed everything this instance sent (subscriptions included). */
	flushed(): Promise<void> {
		return this.nc.flush();
	}

	close(): Promise<void> {
		this.closing ??= (async () => {
			clearInterval(this.heartbeat);
			this.send(this.subject('presence'), 'bye', []);
			this.presence.close();
			// Drain delivers what was published, the shutdown's last commits included, then closes.
			await Promise.race([this.nc.drain().catch(() => this.nc.close()), new Promise((resolve) => setTimeout(resolve, 3000).unref?.())]);
			if (!this.nc.isClosed()) await this.nc.close();
			await this.local.close();
		})();
		return this.closing;
	}

	private subject(name: 'revoked' | 'presence'): string {
		return `${this.prefix}.${name}`;
	}

	private userSubject(userId: string): string {
		return `${this.prefix}.user.${userId}`;
	}

	/**
	 * While disconnected the client buffers what is published and sends it on reconnect; a note
	 * that cannot be sent at all (closed, or past that buffer) is dropped, which only delays events.
	 */
	private send(subject: string, flag: Flag | undefined, notes: WireNote[] | PresenceWire[]) {
		if (this.nc.isClosed()) return;
		const packet: Packet = { i: this.instanceId, t: Date.now(), n: notes };
		if (flag) packet.f = flag;
		try {
			this.nc.publish(subject, encoder.encode(JSON.stringify(packet)));
		} catch (error) {
			log.warn({ err: error }, 'Event bus: a NATS publish failed; the streams catch up on their next hint');
		}
	}

	private readonly onMessage = (error: Error | null, msg: Msg) => {
		if (!error) this.receive(msg.data);
	};

	private readonly onUserMessage = (error: Error | null, msg: Msg) => {
		this.userMessages++;
		this.onMessage(error, msg);
	};

	private receive(data: Uint8Array) {
		let packet: Packet;
		try {
			packet = JSON.parse(decoder.decode(data));
		} catch {
			return;
		}
		if (!packet || typeof packet.i !== 'string' || packet.i === this.instanceId) return;
		if (typeof packet.t === 'number') metrics.busLag.observe(Math.max(0, Date.now() - packet.t) / 1000);
		const wires: unknown[] = Array.isArray(packet.n) ? packet.n : [];
		const notes = wires.filter((wire) => !isPresenceWire(wire)).flatMap((wire) => fromWire(wire) ?? []);
		countReceived(this.local, notes);
		if (notes.length) this.local.publish(notes);
		// Presence and flags travel on the presence subject only; a packet elsewhere is not a heartbeat.
		const presence = wires.filter(isPresenceWire);
		if (packet.f || presence.length) this.presence.heard(packet.i, packet.f, presence);
	}

	/**
	 * A reconnect may have lost notes published meanwhile by the others: every local stream re-reads
	 * its log after its cursor, and this instance says again who is connected here.
	 */
	private async watch() {
		for await (const status of this.nc.status()) {
			if (status.type === 'disconnect') log.warn({ server: status.server }, 'Event bus: NATS connection to the server lost; reconnecting');
			if (status.type === 'reconnect') {
				log.warn({ server: status.server }, 'Event bus: NATS connection re-established; resyncing local streams');
				for (const userId of this.local.userIds()) this.local.publish([resyncNote(userId)]);
				this.presence.joined();
			}
		}
	}
}
