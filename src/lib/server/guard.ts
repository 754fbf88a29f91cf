/**
 * The last resort for socket handlers (WebSocket frames and closes, SSE streams): a bug that throws
 * there must cost one connection, not the process, and must not pass unnoticed. Whatever a handler
 * throws or rejects with is logged loudly as an 'Unexpected error' with its context (the tests fail
 * on that line), and the connection is closed by `onFailure`.
 */

import { AppError } from '$lib/errors';
import { isUnavailable } from './failures';
import { log } from './log';

export type GuardContext = Record<string, string | number | undefined>;

function logUnexpected(where: string, context: GuardContext, error: unknown): void {
	log.error({ err: error, ...context }, `Unexpected error in ${where} (${describe(context)})`);
}

/**
 * For failures that may well be expected: an AppError (a refusal, a deadline) or the database
 * being down is not a bug and goes unlogged here; anything else is logged as unexpected.
 * Returns whether it logged.
 */
export function logIfUnexpected(where: string, context: GuardContext, error: unknown): boolean {
	if (error instanceof AppError || isUnavailable(error)) return false;
	logUnexpected(where, context, error);
	return true;
}

/** Runs `handler`; a throw or a rejection is logged and answered with `onFailure`, never rethrown. */
export function guard(where: string, context: () => GuardContext, onFailure: () => void, handler: () => unknown): void {
	const failed = (error: unknown) => {
		logUnexpected(where, safely(context), error);
		try {
			onFailure();
		} catch (closeError) {
			logUnexpected(`closing after a failure in ${where}`, {}, closeError);
		}
	};
	try {
		const result = handler();
		if (result instanceof Promise) result.catch(failed);
	} catch (error) {
		failed(error);
	}
}

function safely(context: () => GuardContext): GuardContext {
	try {
		return context();
	} catch {
		return {};
	}
}

function describe(context: GuardContext): string {
	return Object.entries(context)
		.filter(([, value]) => value !== undefined)
		.map(([key, value]) => `${key}=${value}`)
		.join(' ');
}
