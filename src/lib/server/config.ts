/**
 * The app's settings, parsed once at start from the environment. Names, defaults and parsing are
 * declared in server/settings.js, shared with the production entry; this gives them their shape.
 */
import { ConfigError, read } from '../../../server/settings.js';

// The one module that reads process.env; everything else is handed what it needs from here.
type Env = Record<string, string | undefined>;

export interface Config {
	/** ORIGIN as an origin (scheme://host:port); undefined leaves it to the proxy headers or Host. */
	origin: string | undefined;
	/** adapter-node's PROTOCOL_HEADER/HOST_HEADER (lower case): where a trusted proxy says the origin. */
	protocolHeader: string | undefined;
	hostHeader: string | undefined;
	databaseUrl: string | undefined;
	/**
	 * DATABASE_DIRECT_URL: PostgreSQL itself, when DATABASE_URL is a transaction-mode pooler. Then
	 * migrations and the LISTEN/NOTIFY bus use it, and the pool on DATABASE_URL keeps no session
	 * state (no prepared statements, deadlines set per transaction: db/postgres-client.ts).
	 */
	databaseDirectUrl: string | undefined;
	pgliteDir: string;
	poolSize: number;
	migrationsDir: string;
	/** BUILD_DIR: where the production entry found the build (PGlite's worker and cluster template). */
	buildDir: string;
	/**
	 * PGLITE_UNSAFE_NO_FSYNC=1: embedded PGlite without syncing to disk, as PGlite ships. Faster
	 * commits, but a power cut or OS crash can lose acknowledged messages and corrupt the database.
	 */
	pgliteUnsafeNoFsync: boolean;
	gapTimeoutMs: number;
	sessionTtlDays: number;
	sessionMaxDays: number;
	rateLimit: boolean;
	/** Messages a user may send per minute, sustained (bursts up to `sendBurst`). */
	sendPerMinute: number;
	sendBurst: number;
	maxConnectionsPerUser: number;
	attachments: AttachmentSettings;
	/** How often the sessions of open WebSocket/SSE connections are re-read (see SessionWatch). */
	sessionRecheckMs: number;
	/** How long a proved session is kept in memory (0: not at all); see session-cache.ts. */
	sessionCacheMs: number;
	wsHeartbeatMs: number;
	sseKeepaliveMs: number;
	/** What `GET /metrics` takes as `Authorization: Bearer …`; undefined: /metrics is off (404). */
	metricsToken: string | undefined;
	/** The per-user event log keeps this many days (chat/retention.ts); the job runs every sweepMs. */
	eventRetention: { days: number; sweepMs: number };
	/** Messages older than this many days are deleted by the same sweep (chat/message-retention.ts); undefined: kept for ever. */
	messageRetentionDays: number | undefined;
	/** Across instances: how often an instance tells the others it is alive (bus-postgres.ts, bus-nats.ts). */
	busHeartbeatMs: number;
	/** The NATS servers of the bus across instances (bus-nats.ts); undefined: LISTEN/NOTIFY on PostgreSQL. */
	busUrl: string[] | undefined;
	/** Every NATS subject of this deployment starts with it, so several can share one NATS. */
	busSubjectPrefix: string;
	/** A key pair of one's own; undefined: generated once and kept in the database. */
	vapidKeys: { publicKey: string; privateKey: string } | undefined;
	vapidSubject: string;
	/**
	 * FAST_PATH=off leaves every request to SvelteKit but the /api paths it would not route
	 * (fast-path.ts); the parity test compares both.
	 */
	fastPath: boolean;
	database: DatabaseTimeouts;
	/** PREVIEWS=off turns the link preview endpoints off (previews/). */
	previews: boolean;
	/**
	 * `host:port` pairs the previews' SSRF guard lets through whatever they resolve to: for tests
	 * against local servers only; empty by default.
	 */
	previewAllowPrivateHosts: string[];
	/**
	 * Pages not cached that one user's links (sent, or asked of GET /api/previews) may make the
	 * server fetch per minute, bursts included; under RATE_LIMIT.
	 */
	previewFetchesPerMinute: number;
	/** REGISTRATION: who may create an account (auth.ts); `invite` needs a code from invites.ts. */
	registration: Registration;
	/** INVITE_TTL_HOURS: how long an invite code stays usable. */
	inviteTtlHours: number;
}

export type Registration = 'open' | 'invite' | 'closed';

export interface AttachmentSettings {
	/** Largest file an upload may carry (MAX_ATTACHMENT_BYTES); one byte more is 413. */
	maxBytes: number;
	/** Uploads a user may start per minute, sustained (bursts up to `uploadBurst`); under RATE_LIMIT. */
	uploadsPerMinute: number;
	uploadBurst: number;
	/** Bytes of uploads not yet part of a message that one user may hold at once. */
	unsentQuotaBytes: number;
	/** An upload never sent is deleted once this old; the sweep looks every `sweepMs`. */
	unsentMaxAgeMs: number;
	sweepMs: number;
}

/**
 * Deadlines on PostgreSQL (PGlite runs in-process and needs none). A database that is down must
 * cost a request at most about `answerMs`, never a hang, and a restored one must be used again at
 * once: so statements are ended by the server (statement_timeout) before the client gives up on an
 * answer, and reconnecting backs off to `retryMaxMs` at most.
 */
export interface DatabaseTimeouts {
	/** statement_timeout: the server ends a statement that runs longer (then 503 unavailable). */
	statementMs: number;
	/** idle_in_transaction_session_timeout: a transaction left open is ended by the server. */
	idleInTransactionMs: number;
	/** A connection that has not answered a request for this long is dead (blackholed) and closed. */
	answerMs: number;
	/** A new connection must be ready within this. */
	connectMs: number;
	/** Longest wait between two reconnection attempts. */
	retryMaxMs: number;
	/** Longest wait for a free connection of the pool. */
	acquireMs: number;
}

export function loadConfig(env: Env = process.env): Config {
	const origin = read(env, 'ORIGIN');
	const databaseUrl = read(env, 'DATABASE_URL');
	const databaseDirectUrl = read(env, 'DATABASE_DIRECT_URL');
	// Embedded PGlite has no pooler in front; a direct URL there means a setting went astray.
	if (databaseDirectUrl && !/^postgres(ql)?:\/\//.test(databaseUrl ?? '')) {
		throw new ConfigError('DATABASE_DIRECT_URL is set, but DATABASE_URL is not a postgres:// URL (the pooler it bypasses)');
	}
	const publicKey = read(env, 'VAPID_PUBLIC_KEY');
	const privateKey = read(env, 'VAPID_PRIVATE_KEY');
	return {
		origin,
		protocolHeader: read(env, 'PROTOCOL_HEADER')?.toLowerCase(),
		hostHeader: read(env, 'HOST_HEADER')?.toLowerCase(),
		databaseUrl,
		databaseDirectUrl,
		pgliteDir: read(env, 'PGLITE_DIR'),
		poolSize: read(env, 'DATABASE_POOL_SIZE'),
		migrationsDir: read(env, 'MIGRATIONS_DIR'),
		buildDir: read(env, 'BUILD_DIR'),
		pgliteUnsafeNoFsync: read(env, 'PGLITE_UNSAFE_NO_FSYNC'),
		gapTimeoutMs: read(env, 'GAP_TIMEOUT_MS'),
		sessionTtlDays: read(env, 'SESSION_TTL_DAYS'),
		sessionMaxDays: read(env, 'SESSION_MAX_DAYS'),
		sessionRecheckMs: read(env, 'SESSION_RECHECK_MS'),
		sessionCacheMs: read(env, 'SESSION_CACHE_MS'),
		rateLimit: read(env, 'RATE_LIMIT'),
		sendPerMinute: read(env, 'SEND_RATE_PER_MINUTE'),
		sendBurst: read(env, 'SEND_BURST'),
		maxConnectionsPerUser: read(env, 'MAX_CONNECTIONS_PER_USER'),
		attachments: {
			maxBytes: read(env, 'MAX_ATTACHMENT_BYTES'),
			uploadsPerMinute: read(env, 'UPLOAD_RATE_PER_MINUTE'),
			uploadBurst: read(env, 'UPLOAD_BURST'),
			unsentQuotaBytes: read(env, 'UNSENT_UPLOAD_QUOTA_BYTES'),
			unsentMaxAgeMs: read(env, 'UNSENT_UPLOAD_MAX_AGE_MS'),
			sweepMs: read(env, 'ATTACHMENT_SWEEP_MS')
		},
		wsHeartbeatMs: read(env, 'WS_HEARTBEAT_MS'),
		sseKeepaliveMs: read(env, 'SSE_KEEPALIVE_MS'),
		busHeartbeatMs: read(env, 'BUS_HEARTBEAT_MS'),
		metricsToken: read(env, 'METRICS_TOKEN'),
		eventRetention: { days: read(env, 'EVENT_RETENTION_DAYS'), sweepMs: read(env, 'RETENTION_SWEEP_MS') },
		messageRetentionDays: read(env, 'MESSAGE_RETENTION_DAYS'),
		busUrl: read(env, 'BUS_URL'),
		busSubjectPrefix: read(env, 'BUS_SUBJECT_PREFIX'),
		// Only a pair: one key alone cannot sign, and the stored pair would not match it.
		vapidKeys: publicKey && privateKey ? { publicKey, privateKey } : undefined,
		vapidSubject: read(env, 'VAPID_SUBJECT') || (origin?.startsWith('https:') ? origin : 'mailto:duet@example.invalid'),
		fastPath: read(env, 'FAST_PATH'),
		database: databaseTimeouts(env),
		previews: read(env, 'PREVIEWS'),
		previewAllowPrivateHosts: read(env, 'PREVIEW_ALLOW_PRIVATE_HOSTS'),
		previewFetchesPerMinute: read(env, 'PREVIEW_FETCHES_PER_MINUTE'),
		registration: read(env, 'REGISTRATION'),
		inviteTtlHours: read(env, 'INVITE_TTL_HOURS')
	};
}

export function databaseTimeouts(env: Env = process.env): DatabaseTimeouts {
	const statementMs = read(env, 'DATABASE_STATEMENT_TIMEOUT_MS');
	const answerMs = read(env, 'DATABASE_ANSWER_TIMEOUT_MS') ?? statementMs + 500;
	// The client waiting less than the server lets a statement run would cut healthy slow ones.
	if (answerMs <= statementMs) {
		throw new ConfigError(`DATABASE_ANSWER_TIMEOUT_MS (${answerMs}) must be longer than DATABASE_STATEMENT_TIMEOUT_MS (${statementMs})`);
	}
	return {
		statementMs,
		idleInTransactionMs: read(env, 'DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS'),
		answerMs,
		connectMs: read(env, 'DATABASE_CONNECT_TIMEOUT_MS'),
		retryMaxMs: read(env, 'DATABASE_RETRY_MAX_MS'),
		acquireMs: read(env, 'DATABASE_ACQUIRE_TIMEOUT_MS')
	};
}
