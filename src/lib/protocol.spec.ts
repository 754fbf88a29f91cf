import { describe, expect, it } from 'vitest';
import { CLOSE, ERRORS, EVENT_KINDS, EVENT_TYPES, isErrorCode, isPermanent, type ErrorCode } from './protocol';
import type { EventType } from './types';

/** True only when A and B are the same type; a mismatch fails `npm run check`. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const listedIsEveryType: Same<(typeof EVENT_TYPES)[number], EventType> = true;
const errorCodesAreKeys: Same<ErrorCode, keyof typeof ERRORS> = true;

// The contract (PROTOCOL.md and docs/protocol.md), written out here because the spec must not
// depend on a file outside the checkout: a change to protocol.ts that breaks it fails below.
const CONTRACT_STATUS = {
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
};

describe('protocol', () => {
	it('derives its lists from the types', () => {
		expect(listedIsEveryType && errorCodesAreKeys).toBe(true);
	});

	it('names the push events of the contract, durable ones apart', () => {
		expect([...EVENT_TYPES].sort()).toEqual([
			'conversation',
			'message',
			'message_updated',
			'presence',
			'ready',
			'receipt',
			'reset',
			'typing',
			'typing_stopped'
		]);
		const durable = EVENT_TYPES.filter((type) => EVENT_KINDS[type] === 'durable');
		expect(durable.sort()).toEqual(['conversation', 'message', 'message_updated', 'receipt']);
	});

	it('maps every error code to the status of the contract', () => {
		expect(Object.fromEntries(Object.entries(ERRORS).map(([code, { status }]) => [code, status]))).toEqual(CONTRACT_STATUS);
	});

	it('treats the client errors a resend cannot fix as permanent, and the rest as worth a retry', () => {
		const permanent = (Object.keys(ERRORS) as ErrorCode[]).filter(isPermanent);
		expect(permanent.sort()).toEqual(['bad_request', 'conflict', 'forbidden', 'not_found', 'too_large', 'unauthorized']);
	});

	it('keeps the close codes the clients act on', () => {
		expect(CLOSE).toEqual({ goingAway: 1001, tooLarge: 1009, serverError: 1011, tryAgainLater: 1013, sessionEnded: 4001 });
	});

	it('recognises only its own error codes', () => {
		expect(isErrorCode('conflict')).toBe(true);
		for (const value of ['toString', 'constructor', 'CONFLICT', '', 409, null, undefined]) expect(isErrorCode(value)).toBe(false);
	});
});
