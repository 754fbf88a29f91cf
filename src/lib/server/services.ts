/**
 * The process-wide service container: exactly one database, one auth and one chat service per
 * process, shared by SvelteKit routes, the WebSocket server and the production entry. It lives on
 * globalThis because dev mode and the production bundle may each load this module more than once.
 */
import { loadConfig, type Config } from './config';
import { openDatabase, type Database } from './db';
import { Auth } from './auth';
import type { SessionPolicy } from './session';

export interface Services {
	config: Config;
	database: Database;
	auth: Auth;
	sessionPolicy: SessionPolicy;
	/** Stops background work and closes connections; idempotent. */
	shutdown(): Promise<void>;
}

const KEY = Symbol.for('duet.services');
type Holder = { promise?: Promise<Services>; value?: Services };
const holder: Holder = ((globalThis as Record<symbol, Holder>)[KEY] ??= {});

export function initServices(): Promise<Services> {
	holder.promise ??= create().then((services) => (holder.value = services));
	return holder.promise;
}

/** The initialised services; routes run only after the `init` hook, so this never races. */
export function services(): Services {
	if (!holder.value) throw new Error('Services used before initServices() resolved');
	return holder.value;
}

async function create(): Promise<Services> {
	const config = loadConfig();
	const database = await openDatabase(config.databaseUrl, config.pgliteDir);
	const auth = new Auth(database.db, config.rateLimit);
	let closing: Promise<void> | undefined;
	return {
		config,
		database,
		auth,
		sessionPolicy: { ttlDays: config.sessionTtlDays, maxDays: config.sessionMaxDays },
		shutdown() {
			closing ??= database.close();
			return closing;
		}
	};
}
