/**
 * Typed calls to the JSON API (docs/protocol.md); failures become AppError values with the server's
 * code. Nothing here touches `window` or the DOM: the service worker sends through it too.
 */
import { AppError } from '$lib/errors';
import { isErrorCode } from '$lib/protocol';
import type { Ack, Changed, Conversation, Message, User } from '$lib/types';
import type { MessageChange, ReceiptInput, SendInput } from '$lib/schemas';

export type Fetch = typeof fetch;

/**
 * The request never got an answer (offline, DNS, connection refused). Still an `unavailable`
 * AppError for callers that only retry; the service worker tells it apart from a server's own
 * `unavailable`, since only this one is worth handing back to the browser's sync retries.
 */
export class UnreachableError extends AppError {
	constructor(cause: unknown) {
		super('unavailable', 'The server cannot be reached; check your connection.', { cause });
		this.name = 'UnreachableError';
	}
}

/** A push subscription as PushSubscription.toJSON() gives it and the server stores it. */
export interface PushSubscriptionInput {
	endpoint: string;
	keys: { p256dh: string; auth: string };
}

async function call<T>(fetchFn: Fetch, path: string, init?: { method?: string; body?: unknown }): Promise<T> {
	let response: Response;
	try {
		response = await fetchFn(path, {
			method: init?.method ?? 'GET',
			headers: init?.body === undefined ? undefined : { 'content-type': 'application/json' },
			body: init?.body === undefined ? undefined : JSON.stringify(init.body),
			credentials: 'same-origin'
		});
	} catch (error) {
		throw new UnreachableError(error);
	}
	if (response.status === 204) return undefined as T;
	const body = (await response.json().catch(() => null)) as { error?: { code?: unknown; message?: unknown } } | null;
	if (!response.ok) {
		const code = isErrorCode(body?.error?.code) ? body.error.code : response.status >= 500 ? 'internal' : 'bad_request';
		const retryAfter = Number(response.headers.get('retry-after')) || undefined;
		throw new AppError(code, String(body?.error?.message ?? response.statusText), { retryAfter });
	}
	return body as T;
}

export function createApi(fetchFn: Fetch = (...args) => fetch(...args)) {
	return {
		me: () => call<{ user: User }>(fetchFn, '/api/me'),
		searchUsers: (q: string) => call<{ users: User[] }>(fetchFn, `/api/users?q=${encodeURIComponent(q)}`),
		openConversation: (username: string) =>
			call<{ conversation: Conversation }>(fetchFn, '/api/conversations', { method: 'POST', body: { username } }),
		conversations: () => call<{ conversations: Conversation[] }>(fetchFn, '/api/conversations'),
		history(conversationId: string, query: { before?: number; after?: number; limit?: number }) {
			const params = new URLSearchParams();
			for (const [key, value] of Object.entries(query)) if (value !== undefined) params.set(key, String(value));
			return call<{ messages: Message[]; hasMore: boolean }>(
				fetchFn,
				`/api/conversations/${encodeURIComponent(conversationId)}/messages?${params}`
			);
		},
		search: (q: string) => call<{ results: { message: Message; peer: User }[] }>(fetchFn, `/api/search?q=${encodeURIComponent(q)}`),
		send: (input: SendInput) => call<Ack>(fetchFn, '/api/messages', { method: 'POST', body: input }),
		message: (id: string) => call<Changed>(fetchFn, `/api/messages/${encodeURIComponent(id)}`),
		/** One change of a stored message, by its HTTP endpoint (docs/protocol.md "Changing messages"). */
		change(change: MessageChange) {
			const path = `/api/messages/${encodeURIComponent(change.messageId)}`;
			switch (change.op) {
				case 'edit':
					return call<Changed>(fetchFn, path, { method: 'PATCH', body: { body: change.body } });
				case 'delete':
					return call<Changed>(fetchFn, path, { method: 'DELETE' });
				case 'react':
				case 'unreact':
					return call<Changed>(fetchFn, `${path}/reactions/${encodeURIComponent(change.emoji)}`, {
						method: change.op === 'react' ? 'PUT' : 'DELETE'
					});
				default:
					return change satisfies never;
			}
		},
		muteConversation: (conversationId: string, muted: boolean) =>
			call<{ conversation: Conversation }>(fetchFn, `/api/conversations/${encodeURIComponent(conversationId)}`, {
				method: 'PATCH',
				body: { muted }
			}),
		blocks: () => call<{ users: User[] }>(fetchFn, '/api/blocks'),
		block: (username: string) => call<void>(fetchFn, '/api/blocks', { method: 'POST', body: { username } }),
		unblock: (userId: string) => call<void>(fetchFn, `/api/blocks/${encodeURIComponent(userId)}`, { method: 'DELETE' }),
		receipt: (input: ReceiptInput) => call<void>(fetchFn, '/api/receipts', { method: 'POST', body: input }),
		typing: (conversationId: string) => call<void>(fetchFn, '/api/typing', { method: 'POST', body: { conversationId } }),
		typingStopped: (conversationId: string) => call<void>(fetchFn, '/api/typing', { method: 'DELETE', body: { conversationId } }),
		logout: () => call<void>(fetchFn, '/api/auth/logout', { method: 'POST' }),
		logoutEverywhere: () => call<void>(fetchFn, '/api/auth/logout-everywhere', { method: 'POST' }),
		deleteAccount: (password: string) => call<void>(fetchFn, '/api/me', { method: 'DELETE', body: { password } }),
		pushKey: () => call<{ publicKey: string }>(fetchFn, '/api/push/subscription'),
		subscribePush: (subscription: PushSubscriptionInput, previews: boolean) =>
			call<void>(fetchFn, '/api/push/subscription', { method: 'POST', body: { subscription, previews } }),
		unsubscribePush: (endpoint: string) => call<void>(fetchFn, '/api/push/subscription', { method: 'DELETE', body: { endpoint } })
	};
}

export type Api = ReturnType<typeof createApi>;
