/**
 * Dexie's `liveQuery`, fetched with Dexie itself. Dexie is the largest part of the app's
 * JavaScript and the server-rendered page needs none of it to show or hydrate, so only the
 * client module (loaded after hydration) imports it; what the page's components watch starts
 * once it is there. Nothing can be watched sooner anyway: there is no database before the client.
 */
export interface LiveObserver<T> {
	next(value: T): void;
	error?(error: unknown): void;
}

/** Runs `query` now and again whenever what it read changes, in any tab; returns the way to stop. */
export function watch<T>(query: () => T | Promise<T>, observer: LiveObserver<T>): () => void {
	let stopped = false;
	let stop = () => {
		stopped = true;
	};
	import('dexie').then(
		({ liveQuery }) => {
			if (stopped) return;
			const subscription = liveQuery(query).subscribe(observer);
			// The observer may have been told to stop from its first next(), run synchronously.
			if (stopped) subscription.unsubscribe();
			else stop = () => subscription.unsubscribe();
		},
		(error: unknown) => {
			if (!stopped) observer.error?.(error);
		}
	);
	return () => stop();
}
