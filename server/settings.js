/**
 * Every environment variable Duet reads, declared once: its default and how it is parsed. Plain
 * JavaScript because server/index.js reads its own settings before the SvelteKit build (and with
 * it src/lib/server/config.ts) is loaded. A value that does not parse fails at start, naming the
 * variable, instead of turning into NaN deep in the code (as adapter-node's env.js does).
 * The README's Configuration table and .env.example are checked against this list
 * (src/lib/server/config.spec.ts).
 */

/**
 * @template T
 * @typedef {{ parse: (raw: string | undefined, name: string) => T; internal?: boolean; readBy?: 'server/index.js' }} Setting
 * `internal`: for tests and tooling, left out of the user-facing docs. `readBy`: read by the
 * production entry rather than by the app's config.
 */

/**
 * A setting that does not parse. Told apart by its name, not instanceof: the SvelteKit build
 * bundles its own copy of this module.
 */
export class ConfigError extends Error {
	name = 'ConfigError';
}

/** @param {string | undefined} raw */
const unset = (raw) => raw === undefined || raw === '';

/**
 * @param {number} fallback
 * @param {number} [min]
 * @returns {Setting<number>}
 */
function int(fallback, min = 0) {
	return {
		parse(raw, name) {
			if (raw === undefined || unset(raw)) return fallback;
			const value = Number(raw);
			if (!Number.isInteger(value) || value < min) throw new ConfigError(`${name} must be an integer ≥ ${min}, got "${raw}"`);
			return value;
		}
	};
}

/**
 * An integer with no default of its own: the caller derives one from other settings.
 * @param {number} [min]
 * @returns {Setting<number | undefined>}
 */
function optionalInt(min = 0) {
	const parser = int(0, min);
	return { parse: (raw, name) => (raw === undefined || unset(raw) ? undefined : parser.parse(raw, name)) };
}

/**
 * A switch that is on only when set to exactly `1`; anything else but unset, empty or `0` is a typo.
 * @returns {Setting<boolean>}
 */
function flag() {
	return {
		parse(raw, name) {
			if (unset(raw) || raw === '0') return false;
			if (raw === '1') return true;
			throw new ConfigError(`${name} must be 1 or 0, got "${raw}"`);
		}
	};
}

/**
 * `on` (the default) or `off`.
 * @returns {Setting<boolean>}
 */
function onOff() {
	return {
		parse(raw, name) {
			if (unset(raw) || raw === 'on') return true;
			if (raw === 'off') return false;
			throw new ConfigError(`${name} must be on or off, got "${raw}"`);
		}
	};
}

/**
 * @template {string | undefined} T
 * @param {T} fallback
 * @returns {Setting<string | T>}
 */
function text(fallback) {
	return { parse: (raw) => (raw === undefined || unset(raw) ? fallback : raw) };
}

/** @returns {Setting<string | undefined>} */
function url() {
	return {
		parse(raw, name) {
			if (raw === undefined || unset(raw)) return undefined;
			// `localhost:3000` parses, as scheme `localhost:` with the opaque origin "null".
			if (URL.canParse(raw) && /^https?:$/.test(new URL(raw).protocol)) return new URL(raw).origin;
			throw new ConfigError(`${name} must be an http(s) URL such as https://chat.example.com, got "${raw}"`);
		}
	};
}

/**
 * A postgres:// (or postgresql://) URL.
 * @returns {Setting<string | undefined>}
 */
function postgresUrl() {
	return {
		parse(raw, name) {
			if (raw === undefined || unset(raw)) return undefined;
			if (/^postgres(ql)?:\/\//.test(raw) && URL.canParse(raw)) return raw;
			throw new ConfigError(`${name} must be a postgres:// URL, got "${raw.replace(/\/\/[^@/]*@/, '//…@')}"`);
		}
	};
}

/**
 * Comma-separated nats:// (or tls://) server URLs.
 * @returns {Setting<string[] | undefined>}
 */
function natsUrls() {
	return {
		parse(raw, name) {
			if (raw === undefined || unset(raw)) return undefined;
			return raw.split(',').map((entry) => {
				const trimmed = entry.trim();
				if (URL.canParse(trimmed) && /^(nats|tls):$/.test(new URL(trimmed).protocol)) return trimmed;
				throw new ConfigError(`${name} must be nats:// URLs (comma-separated), such as nats://127.0.0.1:4222, got "${raw}"`);
			});
		}
	};
}

/**
 * A secret the operator chose, at least `minLength` characters so it cannot be guessed.
 * @param {number} minLength
 * @returns {Setting<string | undefined>}
 */
function secret(minLength) {
	return {
		parse(raw, name) {
			if (raw === undefined || unset(raw)) return undefined;
			if (raw.length >= minLength) return raw;
			throw new ConfigError(`${name} must be at least ${minLength} characters (for example: openssl rand -hex 24)`);
		}
	};
}

/**
 * One NATS subject token: letters, digits, `_` and `-` (no dots or wildcards).
 * @param {string} fallback
 * @returns {Setting<string>}
 */
function subjectToken(fallback) {
	return {
		parse(raw, name) {
			if (raw === undefined || unset(raw)) return fallback;
			if (/^[A-Za-z0-9_-]{1,64}$/.test(raw)) return raw;
			throw new ConfigError(`${name} must be letters, digits, _ or - (a NATS subject token), got "${raw}"`);
		}
	};
}

/**
 * A comma-separated list of `host:port` pairs (the port required), normalised as the WHATWG URL
 * parser writes them, so that `LOCALHOST:8080` and `localhost:8080` are one entry.
 * @returns {Setting<string[]>}
 */
function hostPorts() {
	return {
		parse(raw, name) {
			if (raw === undefined || unset(raw)) return [];
			return raw.split(',').map((entry) => {
				const trimmed = entry.trim();
				const parsed = URL.canParse(`http://${trimmed}`) ? new URL(`http://${trimmed}`) : undefined;
				const port = /:(\d+)$/.exec(trimmed)?.[1];
				if (!parsed || !port || !parsed.hostname || parsed.href !== `http://${parsed.host}/`) {
					throw new ConfigError(`${name} must be a comma-separated list of host:port, got "${raw}"`);
				}
				return `${parsed.hostname}:${Number(port)}`;
			});
		}
	};
}

/**
 * One of a fixed set of words, the first being the default; anything else is refused at start.
 * @template {string} T
 * @param {readonly [T, ...T[]]} choices
 * @returns {Setting<T>}
 */
function oneOf(choices) {
	return {
		parse(raw, name) {
			if (raw === undefined || unset(raw)) return choices[0];
			if (/** @type {readonly string[]} */ (choices).includes(raw)) return /** @type {T} */ (raw);
			throw new ConfigError(`${name} must be one of ${choices.join(', ')}, got "${raw}"`);
		}
	};
}

/**
 * Read by server/index.js, before the SvelteKit build loads.
 * @template T
 * @param {Setting<T>} setting
 * @returns {Setting<T>}
 */
const entry = (setting) => ({ ...setting, readBy: 'server/index.js' });

/**
 * For tests and tooling: declared, but left out of the user-facing docs.
 * @template T
 * @param {Setting<T>} setting
 * @returns {Setting<T>}
 */
const internal = (setting) => ({ ...setting, internal: true });

export const SETTINGS = {
	PORT: entry(int(3000)),
	HOST: entry(text('0.0.0.0')),
	/** Every request is logged at debug; failed (4xx, 5xx) and slow ones (over 1 s) at info. */
	LOG_LEVEL: oneOf(/** @type {const} */ (['info', 'fatal', 'error', 'warn', 'debug', 'trace', 'silent'])),
	SHUTDOWN_TIMEOUT_MS: entry(int(10_000)),
	/** Several builds side by side (parallel test runs). */
	BUILD_DIR: internal(entry(text('build'))),
	/** Also read by adapter-node; the app needs it for the origin check, the fast path and VAPID. */
	ORIGIN: url(),
	/** adapter-node's, read here too so the WebSocket upgrade and fast path decide the origin alike. */
	PROTOCOL_HEADER: text(undefined),
	HOST_HEADER: text(undefined),
	DATABASE_URL: text(undefined),
	/**
	 * Set when DATABASE_URL is a transaction-mode pooler (PgBouncer): PostgreSQL itself, for what
	 * needs a session of its own (migrations, the LISTEN/NOTIFY bus).
	 */
	DATABASE_DIRECT_URL: postgresUrl(),
	PGLITE_DIR: text('./data/pglite'),
	PGLITE_UNSAFE_NO_FSYNC: flag(),
	DATABASE_POOL_SIZE: int(10, 1),
	DATABASE_STATEMENT_TIMEOUT_MS: int(1000, 50),
	DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS: int(5000, 100),
	/** Defaults to the statement timeout + 500 ms. */
	DATABASE_ANSWER_TIMEOUT_MS: optionalInt(100),
	DATABASE_CONNECT_TIMEOUT_MS: int(1500, 100),
	DATABASE_ACQUIRE_TIMEOUT_MS: int(1500, 10),
	DATABASE_RETRY_MAX_MS: int(500, 10),
	/** For tests; scripts/migrate.js reads it through this module too. */
	MIGRATIONS_DIR: internal(text('drizzle')),
	SESSION_TTL_DAYS: int(30, 1),
	SESSION_MAX_DAYS: int(365, 1),
	SESSION_CACHE_MS: int(30_000),
	SESSION_RECHECK_MS: int(5 * 60_000, 100),
	GAP_TIMEOUT_MS: int(5000),
	RATE_LIMIT: onOff(),
	SEND_RATE_PER_MINUTE: int(600, 1),
	SEND_BURST: int(120, 1),
	MAX_CONNECTIONS_PER_USER: int(20, 1),
	MAX_ATTACHMENT_BYTES: int(25 * 1024 * 1024, 1),
	UPLOAD_RATE_PER_MINUTE: int(60, 1),
	UPLOAD_BURST: int(20, 1),
	/** Bytes of uploads not yet sent that one user may hold. */
	UNSENT_UPLOAD_QUOTA_BYTES: int(200 * 1024 * 1024, 1),
	UNSENT_UPLOAD_MAX_AGE_MS: int(24 * 60 * 60_000, 100),
	ATTACHMENT_SWEEP_MS: int(60 * 60_000, 100),
	/** Events older than this are pruned from the per-user log (a resume from before them is a reset). */
	EVENT_RETENTION_DAYS: int(30, 1),
	RETENTION_SWEEP_MS: int(60 * 60_000, 100),
	/** Unset: messages are kept for ever; set: older ones are deleted, attachments and all (chat/message-retention.ts). */
	MESSAGE_RETENTION_DAYS: optionalInt(1),
	FAST_PATH: onOff(),
	WS_HEARTBEAT_MS: int(30_000, 10),
	SSE_KEEPALIVE_MS: int(15_000, 10),
	BUS_HEARTBEAT_MS: int(10_000, 10),
	/** Unset: LISTEN/NOTIFY on PostgreSQL (in process on PGlite); nats://…: the NATS bus. */
	BUS_URL: natsUrls(),
	BUS_SUBJECT_PREFIX: subjectToken('duet'),
	VAPID_PUBLIC_KEY: text(undefined),
	VAPID_PRIVATE_KEY: text(undefined),
	VAPID_SUBJECT: text(undefined),
	/** Unset: GET /metrics answers 404; set: it answers with `Authorization: Bearer <token>` only. */
	METRICS_TOKEN: secret(16),
	PREVIEWS: onOff(),
	/** Link preview pages a user may make the server fetch per minute (cached ones are free); under RATE_LIMIT. */
	PREVIEW_FETCHES_PER_MINUTE: int(20, 1),
	/** For tests against local servers: what the previews' SSRF guard lets through. */
	PREVIEW_ALLOW_PRIVATE_HOSTS: hostPorts(),
	/** Who may create an account: anyone (`open`), holders of an invite code (`invite`), nobody (`closed`). */
	REGISTRATION: oneOf(/** @type {const} */ (['open', 'invite', 'closed'])),
	/** How long an invite code stays usable. */
	INVITE_TTL_HOURS: int(7 * 24, 1)
};

/** @typedef {Record<string, string | undefined>} Env */

/**
 * @template {keyof typeof SETTINGS} K
 * @param {Env} env
 * @param {K} name
 * @returns {ReturnType<(typeof SETTINGS)[K]['parse']>}
 */
export function read(env, name) {
	return /** @type {ReturnType<(typeof SETTINGS)[K]['parse']>} */ (SETTINGS[name].parse(env[name], name));
}
