/**
 * The page's half of background sync. Queued sends and changes register the user's sync tag, so they go out
 * when connectivity returns even if every tab has been closed by then (where the browser supports
 * it); when the sync fires with a tab open, the worker asks that tab to flush instead.
 */
import { watch } from './live-query';
import { OUTBOX_SYNC_PREFIX, type SwMessage } from '$lib/pwa-protocol';
import type { DuetDb } from './db';

type Register = (tag: string) => Promise<void>;

async function registerWithWorker(tag: string): Promise<void> {
	const registration = (await navigator.serviceWorker.ready) as ServiceWorkerRegistration & {
		sync?: { register(tag: string): Promise<void> };
	};
	await registration.sync?.register(tag);
}

/** Registers the tag whenever something is queued; returns the unsubscribe. */
export function registerOutboxSync(db: DuetDb, userId: string, register?: Register): () => void {
	const send = register ?? ('serviceWorker' in navigator ? registerWithWorker : null);
	if (!send) return () => {};
	const queuedWrites = async () =>
		(await db.outbox.where('state').equals('queued').count()) + (await db.changes.where('state').equals('queued').count());
	return watch(queuedWrites, {
		next(queued) {
			if (queued === 0) return;
			void send(OUTBOX_SYNC_PREFIX + userId).catch(() => {});
		},
		error: (error) => console.warn(error)
	});
}

/**
 * The worker's "flush now". The default is the ordinary reconnect-and-flush an `online` event
 * starts, so there is one flush path whether the network or the worker noticed first.
 */
export function onFlushRequest(flush: () => void = () => dispatchEvent(new Event('online'))): () => void {
	const onMessage = (event: MessageEvent<SwMessage>) => {
		if (event.data?.type === 'flush-outbox') flush();
	};
	navigator.serviceWorker?.addEventListener('message', onMessage);
	return () => navigator.serviceWorker?.removeEventListener('message', onMessage);
}
