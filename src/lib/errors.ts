/**
 * The protocol's error vocabulary, shared by server and client: every failure is a value with a
 * code, mapped to an HTTP status or a WebSocket error frame in exactly one place each.
 */

export const ERROR_STATUS = {
	bad_request: 400,
	unauthorized: 401,
	forbidden: 403,
	not_found: 404,
	conflict: 409,
	too_large: 413,
	unsupported_media_type: 415,
	rate_limited: 429,
	internal: 500,
	unavailable: 503
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export interface ErrorBody {
	error: { code: ErrorCode; message: string };
}

export class AppError extends Error {
	readonly code: ErrorCode;
	/** Seconds the caller should wait before retrying; only meaningful for `rate_limited`. */
	readonly retryAfter?: number;

	constructor(code: ErrorCode, message: string, options?: { retryAfter?: number; cause?: unknown }) {
		super(message, { cause: options?.cause });
		this.name = 'AppError';
		this.code = code;
		this.retryAfter = options?.retryAfter;
	}

	get status(): number {
		return ERROR_STATUS[this.code];
	}

	toBody(): ErrorBody {
		return { error: { code: this.code, message: this.message } };
	}
}

export function isErrorCode(value: unknown): value is ErrorCode {
	return typeof value === 'string' && value in ERROR_STATUS;
}
