/**
 * The "offline boot": when the service worker answers a data request with `{ offline: true }`
 * (the server is unreachable), the (app) routes build their data from the local database of the
 * last user who was signed in on this browser instead. Only the id and name are remembered
 * (localStorage); everything else is that user's own IndexedDB, which signing out deletes.
 */
import type { User } from '$lib/types';
import { openTabChannel } from './channel';
import { dbName } from './db-name';

const LAST_USER = 'duet:lastUser';

export function isOfflineData(data: unknown): data is { offline: true } {
	return typeof data === 'object' && data !== null && (data as { offline?: unknown }).offline === true;
}

export function rememberUser(user: User): void {
	try {
		localStorage.setItem(LAST_USER, JSON.stringify({ id: user.id, username: user.username }));
	} catch {
		// private mode or storage full: offline boot simply is not available
	}
}

export function forgetUser(): void {
	try {
		localStorage.removeItem(LAST_USER);
	} catch {
		// nothing to forget
	}
}

export function lastUser(): User | null {
	try {
		const value = JSON.parse(localStorage.getItem(LAST_USER) ?? 'null') as User | null;
		return value && typeof value.id === 'string' && typeof value.username === 'string' ? value : null;
	} catch {
		return null;
	}
}

/**
 * The server has just shown a signed-out page (sign-in, register), yet this browser still
 * remembers a user: the session ended without the client's sign-out (the no-JavaScript form, a
 * click before the app started, a session that expired while no tab was open). Forget that user
 * as a sign-out would, so no offline start can open their data, and tell any tab of theirs.
 */
export function forgetSignedOutUser(): void {
	const user = lastUser();
	if (!user) return;
	forgetUser();
	const channel = openTabChannel(user.id);
	channel.post({ type: 'signout' });
	channel.close();
	indexedDB.deleteDatabase(dbName(user.id));
}
