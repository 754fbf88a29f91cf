/**
 * Failures as values, shared by server and client: an AppError carries one of protocol.ts's codes
 * and is mapped to an HTTP status or a WebSocket error frame in exactly one place each.
 */
import { ERRORS, type ErrorCode } from './protocol';

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
		return ERRORS[this.code].status;
	}

	toBody(): ErrorBody {
		return { error: { code: this.code, message: this.message } };
	}
}
