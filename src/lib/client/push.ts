/** Web Push: subscribes this browser with the server's VAPID key and registers the subscription. */

function base64UrlToBytes(value: string): Uint8Array<ArrayBuffer> {
	const base64 = value.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(value.length / 4) * 4, '=');
	return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}

/** Subscribes (or reuses the subscription) and tells the server; `previews` opts in to message text. */
export async function enablePush(previews = false): Promise<boolean> {
	if (!('serviceWorker' in navigator) || !('PushManager' in window)) return false;
	const response = await fetch('/api/push/subscription', { credentials: 'same-origin' });
	if (!response.ok) return false;
	const { publicKey } = (await response.json()) as { publicKey: string };
	const registration = await navigator.serviceWorker.ready;
	const subscription =
		(await registration.pushManager.getSubscription()) ??
		(await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: base64UrlToBytes(publicKey) }));
	const saved = await fetch('/api/push/subscription', {
		method: 'POST',
		credentials: 'same-origin',
		headers: { 'content-type': 'application/json' },
		body: JSON.stringify({ subscription: subscription.toJSON(), previews })
	});
	return saved.ok;
}

export async function disablePush(): Promise<void> {
	const registration = await navigator.serviceWorker?.getRegistration();
	const subscription = await registration?.pushManager.getSubscription();
	if (!subscription) return;
	await fetch('/api/push/subscription', {
		method: 'DELETE',
		credentials: 'same-origin',
		headers: { 'content-type': 'application/json' },
		body: JSON.stringify({ endpoint: subscription.endpoint })
	});
	await subscription.unsubscribe();
}
