/** Every setting the server reads from the environment, parsed once, with its default. */

function int(name: string, fallback: number, min = 0): number {
	const raw = process.env[name];
	if (raw === undefined || raw === '') return fallback;
	const value = Number(raw);
	if (!Number.isInteger(value) || value < min) {
		throw new Error(`${name} must be an integer ≥ ${min}, got "${raw}"`);
	}
	return value;
}

/** A switch that is on only when set to exactly `1`; anything else but unset, empty or `0` is a typo. */
function flag(name: string): boolean {
	const raw = process.env[name];
	if (raw === undefined || raw === '' || raw === '0') return false;
	if (raw === '1') return true;
	throw new Error(`${name} must be 1 or 0, got "${raw}"`);
}

export interface Config {
	databaseUrl: string | undefined;
	pgliteDir: string;
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
	/** How often the sessions of open WebSocket/SSE connections are re-read (see SessionWatch). */
	sessionRecheckMs: number;
	/** FAST_PATH=off leaves every request to SvelteKit (fast-path.ts); the parity test compares both. */
	fastPath: boolean;
	database: DatabaseTimeouts;
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

export function loadConfig(): Config {
	return {
		databaseUrl: process.env.DATABASE_URL || undefined,
		pgliteDir: process.env.PGLITE_DIR || './data/pglite',
		pgliteUnsafeNoFsync: flag('PGLITE_UNSAFE_NO_FSYNC'),
		gapTimeoutMs: int('GAP_TIMEOUT_MS', 5000),
		sessionTtlDays: int('SESSION_TTL_DAYS', 30, 1),
		sessionMaxDays: int('SESSION_MAX_DAYS', 365, 1),
		sessionRecheckMs: int('SESSION_RECHECK_MS', 5 * 60_000, 100),
		rateLimit: process.env.RATE_LIMIT !== 'off',
		sendPerMinute: int('SEND_RATE_PER_MINUTE', 600, 1),
		sendBurst: int('SEND_BURST', 120, 1),
		maxConnectionsPerUser: int('MAX_CONNECTIONS_PER_USER', 20, 1),
		fastPath: process.env.FAST_PATH !== 'off',
		database: databaseTimeouts()
	};
}

export function databaseTimeouts(): DatabaseTimeouts {
	const statementMs = int('DATABASE_STATEMENT_TIMEOUT_MS', 1000, 50);
	const answerMs = int('DATABASE_ANSWER_TIMEOUT_MS', statementMs + 500, 100);
	// The client waiting less than the server lets a statement run would cut healthy slow ones.
	if (answerMs <= statementMs) {
		throw new Error(`DATABASE_ANSWER_TIMEOUT_MS (${answerMs}) must be longer than DATABASE_STATEMENT_TIMEOUT_MS (${statementMs})`);
	}
	return {
		statementMs,
		idleInTransactionMs: int('DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS', 5000, 100),
		answerMs,
		connectMs: int('DATABASE_CONNECT_TIMEOUT_MS', 1500, 100),
		retryMaxMs: int('DATABASE_RETRY_MAX_MS', 500, 10),
		acquireMs: int('DATABASE_ACQUIRE_TIMEOUT_MS', 1500, 10)
	};
}
