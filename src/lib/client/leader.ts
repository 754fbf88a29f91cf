/**
 * Leader election across the tabs of one browser with the Web Locks API: the tab holding the
 * lock owns the network connection. The browser releases the lock the moment the holder closes
 * or crashes, and grants it to the next waiting tab, so take-over is immediate.
 */

/**
 * Runs `lead` while this tab holds the lock named `name`; `lead` returns its own stop function.
 * The returned function gives up leadership (or the wait for it).
 */
export function electLeader(
	name: string,
	lead: () => () => void,
	locks: LockManager | undefined = globalThis.navigator?.locks
): () => void {
	if (!locks) {
		// Without Web Locks (old browsers, insecure origins) every tab connects on its own.
		const stop = lead();
		return stop;
	}
	const abort = new AbortController();
	let release: (() => void) | undefined;
	let stop: (() => void) | undefined;
	locks
		.request(name, { signal: abort.signal }, () => {
			if (abort.signal.aborted) return;
			stop = lead();
			return new Promise<void>((resolve) => (release = resolve));
		})
		.catch((error: unknown) => {
			if ((error as { name?: string })?.name !== 'AbortError') console.error('Leader election failed', error);
		});
	return () => {
		abort.abort();
		stop?.();
		release?.();
	};
}
