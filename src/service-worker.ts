/// <reference types="@sveltejs/kit" />
/// <reference no-default-lib="true"/>
/// <reference lib="esnext" />
/// <reference lib="webworker" />
/**
 * Duet's service worker. It precaches the built app (JS, CSS, icons, the prerendered /offline
 * shell) and nothing else: API responses, /ws, /api/events and server-rendered pages are per
 * user and always come from the network. When the network is unreachable, a page navigation gets
 * the generic shell and a `__data.json` request gets a stand-in saying "offline"; the route's
 * universal load then reads the signed-in user's data from IndexedDB instead (see
 * src/lib/client/offline.ts).
 */
import { cleanupOutdatedCaches, matchPrecache, precache, type PrecacheEntry } from 'workbox-precaching';
import { sendQueued } from '$lib/client/sw-outbox';
import { OUTBOX_SYNC_PREFIX, SHELL_PATH, type PushPayload, type SwMessage } from '$lib/pwa-protocol';

declare const self: ServiceWorkerGlobalScope & { __WB_MANIFEST: (PrecacheEntry | string)[] };

const manifest = self.__WB_MANIFEST;
precache(manifest);
cleanupOutdatedCaches();
const precached = new Set(manifest.map((entry) => new URL(typeof entry === 'string' ? entry : entry.url, self.location.href).pathname));

self.addEventListener('message', (event) => {
	// workbox-window's updateServiceWorker() after the user accepted the "new version" prompt.
	if (event.data?.type === 'SKIP_WAITING') void self.skipWaiting();
});

self.addEventListener('activate', (event) => {
	// The first install takes over the open page at once, so it is offline-capable without a reload.
	event.waitUntil(self.clients.claim());
});

self.addEventListener('fetch', (event) => {
	const request = event.request;
	if (request.method !== 'GET') return;
	const url = new URL(request.url);
	if (url.origin !== self.location.origin) return;
	if (request.mode === 'navigate') {
		event.respondWith(navigate(request));
	} else if (url.pathname.endsWith('/__data.json')) {
		event.respondWith(pageData(request, url));
	} else if (precached.has(url.pathname)) {
		event.respondWith(matchPrecache(url.pathname).then((cached) => cached ?? fetch(request)));
	}
	// Everything else (API, /ws, /api/events) goes to the network untouched and is never stored.
});

const UNREACHABLE = new Set([502, 503, 504]);

/** Network first, always (the server renders per-user HTML); the cached shell when unreachable. */
async function navigate(request: Request): Promise<Response> {
	try {
		const response = await fetch(request);
		if (!UNREACHABLE.has(response.status)) return response;
	} catch {
		// offline or the server is down: fall through to the shell
	}
	return (await matchPrecache(SHELL_PATH)) ?? Response.error();
}

/**
 * Kit's client-side data request. Offline, every node the client asked for gets `{ offline: true }`
 * (devalue's flattened form), which the (app) universal loads turn into data read from IndexedDB.
 * `uses.url` makes Kit ask the server again on the next navigation, once it is reachable.
 */
async function pageData(request: Request, url: URL): Promise<Response> {
	try {
		const response = await fetch(request);
		if (!UNREACHABLE.has(response.status)) return response;
	} catch {
		// fall through
	}
	const wanted = url.searchParams.get('x-sveltekit-invalidated') ?? '111';
	const nodes = [...wanted].map((bit) =>
		bit === '1' ? { type: 'data', data: [{ offline: 1 }, true], uses: { url: 1 } } : { type: 'skip' }
	);
	return new Response(JSON.stringify({ type: 'data', nodes }) + '\n', {
		headers: { 'content-type': 'application/json', 'cache-control': 'no-store' }
	});
}

// ---- Web Push -------------------------------------------------------------------------------

self.addEventListener('push', (event) => {
	let payload: PushPayload = { type: 'message' };
	try {
		payload = event.data?.json() ?? payload;
	} catch {
		// an empty or foreign payload still means "something new"
	}
	event.waitUntil(showPush(payload));
});

async function showPush(payload: PushPayload): Promise<void> {
	if (typeof payload.unread === 'number' && 'setAppBadge' in navigator) {
		await navigator.setAppBadge(payload.unread).catch(() => {});
	}
	const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
	// A visible tab shows the message itself; Chrome tolerates a silent push while one is focused.
	if (windows.some((w) => w.visibilityState === 'visible')) return;
	const title = payload.from ? `New message from ${payload.from}` : 'New message';
	await self.registration.showNotification(title, {
		body: payload.body ?? 'Open Duet to read it.',
		tag: payload.conversationId ?? 'duet',
		icon: '/icons/icon-192.png',
		badge: '/icons/icon-192.png',
		data: { url: payload.conversationId ? `/c/${payload.conversationId}` : '/' }
	});
}

self.addEventListener('notificationclick', (event) => {
	event.notification.close();
	const target = new URL((event.notification.data as { url?: string } | null)?.url ?? '/', self.location.origin).href;
	event.waitUntil(
		(async () => {
			const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
			for (const w of windows) {
				if ('focus' in w) {
					await w.focus();
					await w.navigate(target).catch(() => {});
					return;
				}
			}
			await self.clients.openWindow(target);
		})()
	);
});

// ---- Background sync ------------------------------------------------------------------------

interface SyncEvent extends ExtendableEvent {
	readonly tag: string;
}

self.addEventListener('sync', ((event: SyncEvent) => {
	if (!event.tag.startsWith(OUTBOX_SYNC_PREFIX)) return;
	const userId = event.tag.slice(OUTBOX_SYNC_PREFIX.length);
	event.waitUntil(flushOutbox(userId));
}) as EventListener);

/**
 * Connectivity is back. An open tab already flushes on `online`, so it is told to try now; with no
 * tab open the worker sends the queued messages itself (see sw-outbox.ts).
 */
async function flushOutbox(userId: string): Promise<void> {
	const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
	if (windows.length > 0) {
		const message: SwMessage = { type: 'flush-outbox' };
		for (const w of windows) w.postMessage(message);
		return;
	}
	// A rejection makes the browser retry the sync later, with its own backoff.
	await sendQueued(userId);
}
