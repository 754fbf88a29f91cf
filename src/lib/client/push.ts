/** Web Push: subscribes this browser with the server's VAPID key and registers the subscription. */
import { AppError } from '$lib/errors';
import { createApi, UnreachableError, type Api, type PushSubscriptionInput } from './api';

function base64UrlToBytes(value: string): Uint8Array<ArrayBuffer> {
	const base64 = value
		.replace(/-/g, '+')
		.replace(/_/g, '/')
		.padEnd(Math.ceil(value.length / 4) * 4, '=');
	return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}

/** The server answered with a refusal (push not configured, signed out): a "no", not a failure. */
function refused(error: unknown): boolean {
	return error instanceof AppError && !(error instanceof UnreachableError);
}

/** Subscribes (or reuses the subscription) and tells the server; `previews` opts in to message text. */
export async function enablePush(previews = false, api: Api = createApi()): Promise<boolean> {
	if (!('serviceWorker' in navigator) || !('PushManager' in window)) return false;
	try {
		const { publicKey } = await api.pushKey();
		const registration = await navigator.serviceWorker.ready;
		const subscription =
			(await registration.pushManager.getSubscription()) ??
			(await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: base64UrlToBytes(publicKey) }));
		await api.subscribePush(subscription.toJSON() as PushSubscriptionInput, previews);
		return true;
	} catch (error) {
		if (refused(error)) return false;
		throw error;
	}
}
