/** Test helpers for client specs: a fresh per-user database on fake-indexeddb and a hand-cranked clock. */
import 'fake-indexeddb/auto';
import { openUserDb, type DuetDb } from './db';

let counter = 0;

export function freshDb(userId = `user-${Date.now()}-${++counter}`): DuetDb {
	return openUserDb(userId);
}

export class ManualClock {
	constructor(public ms = 1_000_000) {}
	now = () => this.ms;
	advance(ms: number) {
		this.ms += ms;
	}
}
