/**
 * Notes as the buses across instances carry them (PostgreSQL NOTIFY payloads, NATS messages): as
 * compact as it gets, a kind, the user id, then the kind's data; never a message body.
 */
import type { EphemeralEvent } from '$lib/types';
import type { Note } from './bus';
import type { PresenceWire } from './bus-presence';

export type WireNote = ['e', string, number] | ['x', string, EphemeralEvent] | ['r', string, string[] | 'all'] | PresenceWire;

export function toWire(note: Note): WireNote[] {
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

export function fromWire(wire: unknown): Note | undefined {
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

function chunk<T>(items: T[], size: number): T[][] {
	const out: T[][] = [];
	for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
	return out.length ? out : [[]];
}
