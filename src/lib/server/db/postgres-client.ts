/**
 * Every postgres.js client of the app is made here (the pool, the bus's LISTEN and NOTIFY
 * connections), with the deadlines of DatabaseTimeouts: the server ends long statements and idle
 * transactions, reconnecting backs off briefly, and a connection that stops answering is closed.
 * A pool behind a transaction-mode pooler (`pooled`) keeps nothing in the session: see below.
 */
import net from 'node:net';
// Patched at install (patches/README.md): 3.4.9 as published can crash the process on a cut.
import postgres from 'postgres';
import type { DatabaseTimeouts } from '../config';

export type PostgresSql = postgres.Sql;

export interface ClientOptions {
	max: number;
	applicationName?: string;
	/** Migrations may run longer than any request should: they go without statement_timeout. */
	statementTimeout?: boolean;
	/**
	 * Behind a transaction-mode pooler (PgBouncer), where consecutive transactions of one client
	 * connection may run on different server sessions: no named prepared statements (PgBouncer
	 * 1.18 cannot follow them) and no settings in the startup packet (it refuses them, and they
	 * would stay with whichever session they reached). The deadlines are set per transaction
	 * instead (`transactionLimits`), and the pool's callers end statements outside a transaction
	 * themselves (postgres-drizzle.ts).
	 */
	pooled?: boolean;
}

/**
 * Statements that give one transaction the deadlines a direct connection has for its session; a
 * simple query, so it pipelines with BEGIN. Undefined where the session already has them.
 */
export function transactionLimits(timeouts: DatabaseTimeouts, pooled: boolean): string | undefined {
	if (!pooled) return undefined;
	return (
		`set local statement_timeout = ${Math.trunc(timeouts.statementMs)}; ` +
		`set local idle_in_transaction_session_timeout = ${Math.trunc(timeouts.idleInTransactionMs)}`
	);
}

export function createPostgresClient(url: string, timeouts: DatabaseTimeouts, options: ClientOptions): PostgresSql {
	const tls = usesTls(url);
	const connection: Record<string, string | number> = {};
	if (!options.pooled) {
		connection.idle_in_transaction_session_timeout = timeouts.idleInTransactionMs;
		if (options.statementTimeout !== false) connection.statement_timeout = timeouts.statementMs;
	}
	// PgBouncer passes application_name on (it is one of the parameters it tracks).
	if (options.applicationName) connection.application_name = options.applicationName;
	return postgres(url, {
		max: options.max,
		// Overrides every query's own `prepare: true`: unnamed statements only.
		...(options.pooled ? { prepare: false } : {}),
		onnotice: () => {},
		connect_timeout: timeouts.connectMs / 1000,
		// postgres.js grows its wait to 20 s after repeated failures: a restored database would sit
		// unused for that long. A few quick attempts cost the database nothing.
		backoff: (retries: number) => Math.min(0.05 * 2 ** retries, timeouts.retryMaxMs / 1000),
		connection,
		// A blackholed connection (packets dropped, nothing reset) never answers and never closes;
		// on plain TCP the watchdog sees that. Over TLS the bytes cannot be read: the callers'
		// own deadlines still bound every wait. (Only the first of several hosts is used.)
		...(tls
			? {}
			: {
					socket: (o: { host: string[]; port: number[]; path?: string }) =>
						watchedSocket(o.path ? { path: o.path } : { host: o.host[0], port: o.port[0] }, timeouts.answerMs)
				})
	} as postgres.Options<Record<string, never>>);
}

function usesTls(url: string): boolean {
	const mode = new URL(url).searchParams.get('sslmode') ?? new URL(url).searchParams.get('ssl');
	return mode !== null && mode !== 'disable' && mode !== 'false';
}

/**
 * A TCP socket that closes itself when the server owes an answer and has sent nothing for
 * `answerMs`. It counts the requests that the server must answer with ReadyForQuery (the startup,
 * each Sync and each simple Query) against the ReadyForQuery messages received; a Flush owes some
 * answer too. statement_timeout makes a live server answer sooner, so only a dead link trips it.
 */
function watchedSocket(to: { host: string; port: number } | { path: string }, answerMs: number): net.Socket {
	const socket = net.connect(to as net.NetConnectOpts);
	const sent = new FrameScanner(true);
	const received = new FrameScanner(false);
	let owed = 0;
	let flushOwed = false;
	let timer: ReturnType<typeof setTimeout> | undefined;
	const arm = () => {
		clearTimeout(timer);
		timer =
			owed > 0 || flushOwed
				? setTimeout(() => {
						const error = Object.assign(new Error(`The database did not answer within ${answerMs} ms`), { code: 'ETIMEDOUT' });
						socket.destroy(error);
					}, answerMs)
				: undefined;
	};
	const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
	socket.write = ((chunk: unknown, ...rest: unknown[]) => {
		if (Buffer.isBuffer(chunk)) {
			const before = owed;
			sent.scan(chunk, (type) => {
				if (type === STARTUP || type === SYNC || type === QUERY) owed++;
				else if (type === FLUSH) flushOwed = true;
			});
			if (owed !== before || (flushOwed && !timer)) arm();
		}
		return write(chunk, ...rest);
	}) as typeof socket.write;
	socket.on('data', (chunk: Buffer) => {
		received.scan(chunk, (type) => {
			if (type === READY_FOR_QUERY && owed > 0) owed--;
		});
		flushOwed = false;
		// Progress: the server is alive; what it still owes gets a fresh deadline.
		arm();
	});
	socket.on('close', () => clearTimeout(timer));
	// postgres.js reads these for its error messages.
	if ('host' in to) Object.assign(socket, to);
	return socket;
}

const STARTUP = 0;
const SYNC = 'S'.charCodeAt(0);
const QUERY = 'Q'.charCodeAt(0);
const FLUSH = 'H'.charCodeAt(0);
const READY_FOR_QUERY = 'Z'.charCodeAt(0);

/**
 * Finds message boundaries in one direction of the PostgreSQL protocol: a type byte and a 32-bit
 * length (that counts itself), except the first message from the client, which has no type byte.
 */
export class FrameScanner {
	private skip = 0;
	private header: number[] = [];

	constructor(private untyped: boolean) {}

	scan(chunk: Buffer, onType: (type: number) => void): void {
		let i = 0;
		while (i < chunk.length) {
			if (this.skip > 0) {
				const n = Math.min(this.skip, chunk.length - i);
				this.skip -= n;
				i += n;
				continue;
			}
			this.header.push(chunk[i++]);
			const size = this.untyped ? 4 : 5;
			if (this.header.length < size) continue;
			const h = this.header;
			const at = size - 4;
			this.header = [];
			this.skip = (((h[at] << 24) | (h[at + 1] << 16) | (h[at + 2] << 8) | h[at + 3]) >>> 0) - 4;
			const type = this.untyped ? STARTUP : h[0];
			this.untyped = false;
			onType(type);
		}
	}
}
