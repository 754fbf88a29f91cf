/**
 * The process-wide service container: exactly one database, one auth and one chat service per
 * process, shared by SvelteKit routes (through `locals`, see hooks.server.ts), the WebSocket server
 * and the production entry. It lives on globalThis because dev mode and the production bundle may
 * each load this module more than once. Only entry points fetch it; what they call is handed the
 * parts it uses, so that it can be built and tested without a process around it.
 */
import { AppError } from '$lib/errors';
import { loadConfig, type Config } from './config';
import { openDatabase, type Database } from './db';
import { Auth } from './auth';
import { UserInvites } from './invites';
import { Accounts } from './accounts';
import { Attachments } from './attachments/service';
import { DatabaseBlobStore } from './attachments/database-store';
import { ResumableUploads } from './attachments/resumable';
import { allBlobKeys } from './attachments/store';
import { InProcessBus, type EventBus } from './bus';
import { ChatService } from './chat/service';
import { expireMessages } from './chat/message-retention';
import { pruneEvents } from './chat/retention';
import { Streams } from './chat/streams';
import { createPreviews, type Previews } from './previews';
import { loadVapidKeys, PushService } from './push';
import { Sessions } from './session';
import { SessionCache } from './session-cache';
import { SessionWatch } from './session-watch';
import { log } from './log';
import { watchPool } from './metrics';

export interface Services {
	config: Config;
	database: Database;
	auth: Auth;
	/** Invite codes users make when REGISTRATION=invite (invites.ts). */
	invites: UserInvites;
	/** Deleting, disabling and password resets of whole accounts (accounts.ts), for the API and the admin command. */
	accounts: Accounts;
	bus: EventBus;
	chat: ChatService;
	attachments: Attachments;
	/** Resumable uploads (docs/protocol.md "Resumable uploads"). */
	uploads: ResumableUploads;
	/** Every push connection's lifecycle (limit, presence, replay, teardown, shutdown). */
	streams: Streams;
	push: PushService;
	/** Link previews (the cache, the guard, the per-user limit); undefined when PREVIEWS=off. */
	previews: Previews | undefined;
	/** Proves, creates and ends sessions; holds the process's cache of proved sessions. */
	sessions: Sessions;
	sessionWatch: SessionWatch;
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

/**
 * Several instances fan out through NATS when BUS_URL names one, else through LISTEN/NOTIFY on
 * their PostgreSQL; PGlite is one process.
 */
async function openBus(config: Config, database: Database): Promise<EventBus> {
	if (config.busUrl) {
		const { NatsBus } = await import('./bus-nats');
		return NatsBus.start(config.busUrl, { prefix: config.busSubjectPrefix, heartbeatMs: config.busHeartbeatMs });
	}
	if (database.notifyUrl) {
		const { PostgresBus } = await import('./bus-postgres');
		return PostgresBus.start(database.notifyUrl, { heartbeatMs: config.busHeartbeatMs, timeouts: config.database });
	}
	return new InProcessBus();
}

async function create(): Promise<Services> {
	const config = loadConfig();
	const database = await openDatabase(config.databaseUrl, config.pgliteDir, {
		pgliteUnsafeNoFsync: config.pgliteUnsafeNoFsync,
		timeouts: config.database,
		poolSize: config.poolSize,
		directUrl: config.databaseDirectUrl,
		migrationsDir: config.migrationsDir,
		buildDir: config.buildDir,
		// Fail fast: a supervisor restarts the server, and every acknowledged commit is on disk.
		onPgliteLost: (error) => {
			log.fatal({ err: error }, 'The embedded database stopped; exiting');
			process.exit(1);
		}
	});
	if (database.poolUse) watchPool(database.poolUse);
	const sessions = new Sessions(
		database.db,
		{ ttlDays: config.sessionTtlDays, maxDays: config.sessionMaxDays },
		new SessionCache(config.sessionCacheMs)
	);
	const auth = new Auth(database.db, config.rateLimit, config.registration);
	const invites = new UserInvites(database.db, config);
	const bus = await openBus(config, database);
	// Logout on any instance reaches every instance's session cache through the bus.
	bus.onRevoked(({ userId, sessionIds }) => sessions.cache.forgetUser(userId, sessionIds));
	const store = new DatabaseBlobStore(database.db);
	const previews = createPreviews(config, database.db);
	const chat = new ChatService(
		database.db,
		database.batch,
		bus,
		config,
		(ids) => store.delete(allBlobKeys(ids)),
		previews && ((userId, url) => previews.forMessage(userId, url))
	);
	const push = new PushService(
		database.db,
		bus,
		await loadVapidKeys(database.db, config.vapidKeys),
		{ subject: config.vapidSubject },
		(userId) => chat.isOnline(userId)
	);
	const isMember = async (userId: string, conversationId: string) => {
		try {
			await chat.requireMember(userId, conversationId);
			return true;
		} catch (error) {
			if (error instanceof AppError && error.code === 'not_found') return false;
			throw error;
		}
	};
	const attachments = new Attachments({ db: database.db, store, settings: config.attachments, rateLimit: config.rateLimit, isMember });
	const uploads = new ResumableUploads({ db: database.db, store, attachments, maxBytes: config.attachments.maxBytes, isMember });
	// Uploads never sent are deleted once a day old; every instance sweeps, the deletes are idempotent.
	const sweeper = setInterval(() => {
		attachments.sweep().catch((error) => log.error({ err: error }, 'Sweeping unsent uploads failed'));
	}, config.attachments.sweepMs);
	sweeper.unref();
	// Every instance sweeps; SKIP LOCKED (events) and an advisory lock (messages) keep their runs
	// from waiting on each other or doing the same work. A run still going when the next is due is let be.
	let sweeping: Promise<void> | undefined;
	const messageRetentionDays = config.messageRetentionDays;
	const sweep = async () => {
		await pruneEvents(database.db, { retentionDays: config.eventRetention.days }).catch((error) =>
			log.error({ err: error }, 'Pruning the event log failed')
		);
		if (messageRetentionDays === undefined) return;
		await expireMessages(database.db, chat, { retentionDays: messageRetentionDays, shared: database.notifyUrl !== undefined }).catch(
			(error) => log.error({ err: error }, 'Deleting messages past their retention failed')
		);
	};
	const pruner = setInterval(() => {
		sweeping ??= sweep().finally(() => (sweeping = undefined));
	}, config.eventRetention.sweepMs);
	pruner.unref();
	const accounts = new Accounts({ db: database.db, chat, sessions, attachments });
	// A deletion a crash cut short is finished now; until then the account already cannot sign in.
	const resuming = accounts.resumeDeletions().catch((error) => log.error({ err: error }, 'Finishing interrupted account deletions failed'));
	const sessionWatch = new SessionWatch(sessions, config.sessionRecheckMs);
	const streams = new Streams({ db: database.db, bus, chat, sessionWatch });
	let closing: Promise<void> | undefined;
	return {
		config,
		database,
		auth,
		invites,
		accounts,
		bus,
		chat,
		attachments,
		uploads,
		streams,
		push,
		previews,
		sessions,
		sessionWatch,
		shutdown() {
			closing ??= (async () => {
				// Connections first (they stop taking sends), then the buffer commits what it holds.
				await streams.shutdown().catch((error) => log.error({ err: error }, 'Closing the streams failed'));
				sessionWatch.close();
				clearInterval(sweeper);
				clearInterval(pruner);
				await sweeping;
				await resuming;
				await chat.flush();
				await push.settle();
				await bus.close();
				await database.close();
			})();
			return closing;
		}
	};
}
