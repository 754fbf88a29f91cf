/**
 * The one logger: pino, one JSON object per line on stdout, for the production entry and the app
 * alike (the SvelteKit build bundles its own copy of this module; both write the same shape).
 * Every line written while a request is handled carries its id (`reqId`, also the response's
 * `x-request-id`), through an AsyncLocalStorage kept on globalThis so both copies share it.
 * What is logged: what happened, to which ids, and errors with their stacks; never message
 * bodies, cookies, tokens or passwords (and the usual keys for them are redacted anyway).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import pino from 'pino';
import { read } from './settings.js';

const CONTEXT = Symbol.for('duet.requestContext');

const holder = /** @type {Record<symbol, AsyncLocalStorage<{ id: string }> | undefined>} */ (/** @type {unknown} */ (globalThis));

export const requestContext = (holder[CONTEXT] ??= new AsyncLocalStorage());

const SECRET_KEYS = ['cookie', 'authorization', 'token', 'password', 'body', 'secret'];

/** @returns {string} */
function level() {
	try {
		return read(process.env, 'LOG_LEVEL');
	} catch (error) {
		// No logger yet to say it with; a typo in a setting is the operator's to fix.
		console.error(`Invalid configuration: ${/** @type {Error} */ (error).message}`);
		process.exit(1);
	}
}

export const log = pino(
	{
		level: level(),
		timestamp: pino.stdTimeFunctions.isoTime,
		formatters: { level: (label) => ({ level: label }) },
		mixin() {
			const context = requestContext.getStore();
			return context ? { reqId: context.id } : {};
		},
		redact: { paths: [...SECRET_KEYS, ...SECRET_KEYS.map((key) => `*.${key}`), 'headers', '*.headers'], censor: '[redacted]' }
		// Written before the next thing happens (an answer, a crash, a SIGKILL): at info a server logs
		// little (failures, slow requests), so a synchronous write costs nothing worth the lost order.
	},
	pino.destination({ dest: 1, sync: true })
);

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * A proxy's request id when it sent a sane one, else a fresh one.
 * @param {string | string[] | undefined} header
 */
export function requestId(header) {
	return typeof header === 'string' && REQUEST_ID.test(header) ? header : flat(crypto.randomUUID());
}

/**
 * randomUUID builds its string by concatenation: a rope of about fifteen pieces, 0.5 KiB of heap
 * instead of 0.1. The id lives as long as its request's async context, which for a WebSocket or an
 * SSE stream is the whole connection, so it is copied into one flat string.
 * @param {string} text
 */
function flat(text) {
	return Buffer.from(text, 'latin1').toString('latin1');
}
