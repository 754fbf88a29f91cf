/** Typed calls to the JSON API (docs/protocol.md); failures become AppError values with the server's code. */
import { AppError } from '$lib/errors';
import { isErrorCode } from '$lib/protocol';
import type { Ack, Conversation, Message, User } from '$lib/types';
import type { ReceiptInput, SendInput } from '$lib/schemas';

export type Fetch = typeof fetch;

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
		throw new AppError('unavailable', 'The server cannot be reached; check your connection.', { cause: error });
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
		receipt: (input: ReceiptInput) => call<void>(fetchFn, '/api/receipts', { method: 'POST', body: input }),
		typing: (conversationId: string) => call<void>(fetchFn, '/api/typing', { method: 'POST', body: { conversationId } }),
		logout: () => call<void>(fetchFn, '/api/auth/logout', { method: 'POST' })
	};
}

export type Api = ReturnType<typeof createApi>;
