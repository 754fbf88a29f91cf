/**
 * The wire vocabulary of PROTOCOL.md as values: push event types, close codes and error codes,
 * each defined once here and imported by the server, the browser client and the service worker.
 * Framework-free and tiny on purpose, as it sits in the chat route's first bundle.
 */
import type { DurableEvents, EphemeralEvents, EventType, StreamEvents } from './types';

/**
 * Every push event type, by kind. The `satisfies` clause makes a type added to `Events` in
 * types.ts a compile error until it is listed here, so no transport can silently drop it.
 */
export const EVENT_KINDS = {
	message: 'durable',
	message_updated: 'durable',
	receipt: 'durable',
	conversation: 'durable',
	typing: 'ephemeral',
	typing_stopped: 'ephemeral',
	presence: 'ephemeral',
	reset: 'stream',
	ready: 'stream'
} as const satisfies { [K in keyof DurableEvents]: 'durable' } & { [K in keyof EphemeralEvents]: 'ephemeral' } & {
	[K in keyof StreamEvents]: 'stream';
};

export const EVENT_TYPES = Object.keys(EVENT_KINDS) as EventType[];

/** WebSocket close codes; the SSE stream's `close` event carries the same numbers. */
export const CLOSE = {
	goingAway: 1001,
	/** Sent by the ws library itself for a frame over its maxPayload. */
	tooLarge: 1009,
	serverError: 1011,
	tryAgainLater: 1013,
	sessionEnded: 4001
} as const;

export type CloseCode = (typeof CLOSE)[keyof typeof CLOSE];

/**
 * Error codes with their HTTP status. `retry: false` marks a permanent failure: the outbox gives
 * up on a send at once instead of spending its retry budget on an answer that will not change.
 */
export const ERRORS = {
	bad_request: { status: 400, retry: false },
	unauthorized: { status: 401, retry: false },
	forbidden: { status: 403, retry: false },
	not_found: { status: 404, retry: false },
	conflict: { status: 409, retry: false },
	too_large: { status: 413, retry: false },
	unsupported_media_type: { status: 415, retry: true },
	rate_limited: { status: 429, retry: true },
	internal: { status: 500, retry: true },
	unavailable: { status: 503, retry: true }
} as const satisfies Record<string, { status: number; retry: boolean }>;

export type ErrorCode = keyof typeof ERRORS;

export function isErrorCode(value: unknown): value is ErrorCode {
	return typeof value === 'string' && Object.prototype.hasOwnProperty.call(ERRORS, value);
}

export function isPermanent(code: ErrorCode): boolean {
	return !ERRORS[code].retry;
}
