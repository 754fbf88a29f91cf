/**
 * The "offline boot": when the service worker answers a data request with `{ offline: true }`
 * (the server is unreachable), the (app) routes build their data from the local database of the
 * last user who was signed in on this browser instead. Only the id and name are remembered
 * (localStorage); everything else is that user's own IndexedDB, which signing out deletes.
 */
import type { User } from '$lib/types';

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
