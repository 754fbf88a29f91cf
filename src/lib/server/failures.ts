/**
 * Turns anything thrown into a protocol error. Unexpected errors are logged here and reach the
 * client only as `internal`, never with a stack; a database that cannot be reached is `unavailable`.
 */
import { AppError } from '$lib/errors';
import { log } from './log';

/** Errors that mean nothing answered: the link to the database is lost (or it is shutting down). */
export const LINK_LOST_CODES: ReadonlySet<string> = new Set([
	'ECONNREFUSED',
	'ECONNRESET',
	'ETIMEDOUT',
	'EPIPE',
	'CONNECT_TIMEOUT',
	'CONNECTION_CLOSED',
	'CONNECTION_DESTROYED',
	'57P01', // admin_shutdown
	'57P02', // crash_shutdown
	'57P03', // cannot_connect_now
	'08P01' // PgBouncer's own errors: its server connection was lost, or logging in to it fails
]);

/** Every error that makes a request `unavailable`: a lost link, and answers that say "not now". */
const CONNECTION_CODES = new Set([
	...LINK_LOST_CODES,
	'CONNECTION_ENDED',
	'DATABASE_UNREACHABLE', // db/reachability.ts: failed at once while the database is away
	'57014', // query_canceled: statement_timeout ended it
	'25P03', // idle_in_transaction_session_timeout
	'53300' // too_many_connections
]);

export function isUnavailable(error: unknown): boolean {
	return hasCode(error, CONNECTION_CODES);
}

/** The connection itself is gone (not a statement cancelled on a live one, which leaves its transaction open). */
export function isLinkLost(error: unknown): boolean {
	return hasCode(error, LINK_LOST_CODES);
}

function hasCode(error: unknown, codes: ReadonlySet<string>): boolean {
	for (let e: unknown = error, depth = 0; e && depth < 5; depth++) {
		const code = (e as { code?: unknown }).code;
		if (typeof code === 'string' && codes.has(code)) return true;
		e = (e as { cause?: unknown }).cause;
	}
	return false;
}

export function toAppError(error: unknown): AppError {
	if (error instanceof AppError) return error;
	if (isUnavailable(error)) {
		return new AppError('unavailable', 'The service is briefly unavailable; try again in a moment.', { cause: error });
	}
	log.error({ err: error }, 'Unexpected error');
	return new AppError('internal', 'Something went wrong on our side; try again.', { cause: error });
}
