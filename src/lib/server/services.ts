/**
 * The process-wide service container: exactly one database, one auth and one chat service per
 * process, shared by SvelteKit routes, the WebSocket server and the production entry. It lives on
 * globalThis because dev mode and the production bundle may each load this module more than once.
 */
import { loadConfig, type Config } from './config';
import { openDatabase, type Database } from './db';
import { Auth } from './auth';
import { InProcessBus, type EventBus } from './bus';
import { ChatService } from './chat/service';
import { Streams } from './chat/streams';
import { loadVapidKeys, PushService } from './push';
import type { SessionPolicy } from './session';
import { registerSessionCache, sessionCacheFor } from './session-cache';
import { SessionWatch } from './session-watch';

export interface Services {
	config: Config;
	database: Database;
	auth: Auth;
	bus: EventBus;
	chat: ChatService;
	/** Every push connection's lifecycle (limit, presence, replay, teardown, shutdown). */
	streams: Streams;
	push: PushService;
	sessionPolicy: SessionPolicy;
	sessionWatch: SessionWatch;
	/** Registers a transport's own shutdown step (close sockets, end streams). */
	onShutdown(close: () => Promise<void>): void;
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
	const database = await openDatabase(config.databaseUrl, config.pgliteDir, {
		pgliteUnsafeNoFsync: config.pgliteUnsafeNoFsync,
		timeouts: config.database,
		poolSize: config.poolSize,
		migrationsDir: config.migrationsDir
	});
	registerSessionCache(database.db, config.sessionCacheMs);
	const auth = new Auth(database.db, config.rateLimit);
	// Several instances on one PostgreSQL fan out through LISTEN/NOTIFY; PGlite is one process.
	const bus: EventBus =
		database.engine === 'postgres' && database.url
			? await (await import('./bus-postgres')).PostgresBus.start(database.url, { heartbeatMs: config.busHeartbeatMs, timeouts: config.database })
			: new InProcessBus();
	// Logout on any instance reaches every instance's session cache through the bus.
	bus.onRevoked(({ userId, sessionIds }) => sessionCacheFor(database.db).forgetUser(userId, sessionIds));
	const chat = new ChatService(database.db, bus, config);
	const push = new PushService(
		database.db,
		bus,
		await loadVapidKeys(database.db, config.vapidKeys),
		{ subject: config.vapidSubject },
		(userId) => chat.isOnline(userId)
	);
	const sessionPolicy = { ttlDays: config.sessionTtlDays, maxDays: config.sessionMaxDays };
	const sessionWatch = new SessionWatch(database.db, sessionPolicy, config.sessionRecheckMs);
	const streams = new Streams({ db: database.db, bus, chat, sessionWatch });
	const closers: Array<() => Promise<void>> = [() => streams.shutdown()];
	let closing: Promise<void> | undefined;
	return {
		config,
		database,
		auth,
		bus,
		chat,
		streams,
		push,
		sessionPolicy,
		sessionWatch,
		onShutdown(close) {
			closers.push(close);
		},
		shutdown() {
			closing ??= (async () => {
				// Transports first (they stop taking sends), then the buffer commits what it holds.
				await Promise.allSettled(closers.map((close) => close()));
				sessionWatch.close();
				await chat.flush();
				await push.settle();
				await bus.close();
				await database.close();
			})();
			return closing;
		}
	};
}
