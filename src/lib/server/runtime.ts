/**
 * The hand-off between the SvelteKit build and whatever HTTP server hosts it (server/index.js in
 * production, the Vite plugin in dev): the upgrade handler for /ws and the shutdown routine.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

export interface Runtime {
	upgrade?: (req: IncomingMessage, socket: Duplex, head: Buffer) => void | Promise<void>;
	/** Serves a request ahead of SvelteKit, or returns false at once to leave it to SvelteKit. */
	request?: (req: IncomingMessage, res: ServerResponse) => false | Promise<boolean>;
	shutdown?: () => Promise<void>;
	/** The edge's last-resort replies (edge.ts), for what no handler caught and what node could not parse. */
	replyUnexpected?: (target: ServerResponse | Duplex) => void;
	replyClientError?: (socket: Duplex, error: Error & { code?: string }, inFlight: boolean) => void;
}

const KEY = Symbol.for('duet.runtime');

export function runtime(): Runtime {
	return ((globalThis as Record<symbol, Runtime>)[KEY] ??= {});
}

export function registerRuntime(parts: Runtime): void {
	Object.assign(runtime(), parts);
}
