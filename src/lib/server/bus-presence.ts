/**
 * Which users have push connections on which other instance, as the buses across instances
 * (PostgreSQL LISTEN/NOTIFY, NATS) learn it from each other: every instance says when a user's
 * first connection opens and last one closes there, repeats its whole state when it (re)joins,
 * and beats a heartbeat; an instance silent for long is taken as crashed and its users offline.
 * The buses carry the notes; this keeps the map and decides who has gone offline.
 */
import { log } from './log';

/**
 * This instance now has (1) or no longer has (0) push connections of the user; the fourth item is
 * 0 when it did not announce "offline" because it believed the user online elsewhere.
 */
export type PresenceWire = ['p', string, 0 | 1, (0 | 1)?];

/**
 * hello: "I (re)joined: forget what you knew of me, here is my state, send me yours";
 * reset: "forget what you knew of me, here is my state"; hb: "still here"; bye: "gone".
 */
export type Flag = 'hello' | 'reset' | 'hb' | 'bye';

interface Peer {
	users: Set<string>;
	seenAt: number;
}

export function isPresenceWire(wire: unknown): wire is PresenceWire {
	return Array.isArray(wire) && wire[0] === 'p' && typeof wire[1] === 'string';
}

export class InstancePresence {
	private readonly peers = new Map<string, Peer>();
	private readonly localOnline = new Set<string>();
	private gone?: (userId: string) => void;
	private closed = false;

	constructor(
		private readonly heartbeatMs: number,
		private readonly peerExpiryMs: number,
		/** Sends a flag and presence notes to every other instance. */
		private readonly send: (flag: Flag | undefined, notes: PresenceWire[]) => void
	) {}

	/** Whether another live instance has push connections of this user. */
	onlineElsewhere(userId: string): boolean {
		for (const peer of this.peers.values()) if (peer.users.has(userId)) return true;
		return false;
	}

	setLocal(userId: string, online: boolean, announced = true): void {
		if (online) this.localOnline.add(userId);
		else this.localOnline.delete(userId);
		this.send(undefined, [online ? ['p', userId, 1] : ['p', userId, 0, announced ? 1 : 0]]);
	}

	onGone(handler: (userId: string) => void): void {
		this.gone = handler;
	}

	/** This instance (re)joined the others: they forget what they knew of it and say what they know. */
	joined(): void {
		this.send('hello', this.snapshot());
	}

	/** A packet from another instance: its flag and the presence notes it carried. */
	heard(instanceId: string, flag: Flag | undefined, notes: PresenceWire[]): void {
		let peer = this.peers.get(instanceId);
		if (!peer) this.peers.set(instanceId, (peer = { users: new Set(), seenAt: 0 }));
		peer.seenAt = Date.now();
		if (flag === 'hello' || flag === 'reset') peer.users.clear();
		if (flag === 'hello') this.send('reset', this.snapshot());
		for (const [, userId, online, announced] of notes) {
			if (online === 1) peer.users.add(userId);
			else if (peer.users.delete(userId) && announced === 0) this.checkGone(userId);
		}
		if (flag === 'bye') {
			this.peers.delete(instanceId);
			// Its users are reconnecting elsewhere; those who have not after a while went offline.
			const users = [...peer.users];
			setTimeout(() => users.forEach((userId) => this.checkGone(userId)), this.heartbeatMs).unref?.();
		}
	}

	/** Forgets instances silent for longer than the expiry: crashed, their users offline unless seen elsewhere. */
	expire(now = Date.now()): void {
		for (const [id, peer] of this.peers) {
			if (now - peer.seenAt <= this.peerExpiryMs) continue;
			log.warn({ instance: id, users: peer.users.size }, 'Event bus: an instance went silent; forgetting its online users');
			this.peers.delete(id);
			for (const userId of peer.users) this.checkGone(userId);
		}
	}

	close(): void {
		this.closed = true;
	}

	private snapshot(): PresenceWire[] {
		return [...this.localOnline].map((userId): PresenceWire => ['p', userId, 1]);
	}

	/** Nobody here or elsewhere has the user connected any more: make sure their peers hear it. */
	private checkGone(userId: string) {
		if (this.closed || this.localOnline.has(userId) || this.onlineElsewhere(userId)) return;
		try {
			this.gone?.(userId);
		} catch (error) {
			log.error({ err: error }, 'Presence handler failed');
		}
	}
}
