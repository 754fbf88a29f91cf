/**
 * Starts the real production server (`node server/index.js`) on a free port, against in-memory
 * PGlite or a fresh database on the PostgreSQL of TEST_DATABASE_URL, and talks to it over HTTP.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import postgres from 'postgres';
import { WebSocket } from 'ws';
import { describe } from 'vitest';

export type EngineName = 'pglite' | 'postgres';

export interface TestServer {
	origin: string;
	port: number;
	databaseUrl: string;
	process: ChildProcess;
	output: () => string;
	/** SIGTERM and wait for exit. */
	stop(): Promise<number | null>;
	/** SIGKILL and wait for exit. */
	kill(): Promise<void>;
}

export interface StartOptions {
	engine: EngineName;
	env?: Record<string, string>;
	/** Reuse an existing database (e.g. to restart a server on the same data). */
	databaseUrl?: string;
	port?: number;
	/** Extra arguments for node, before the script (e.g. `--inspect=127.0.0.1:0`). */
	nodeArgs?: string[];
}

/** Runs `fn` once per engine; PostgreSQL only when TEST_DATABASE_URL is set (and says so otherwise). */
export function describeEngines(name: string, fn: (engine: EngineName) => void) {
	describe(`${name} [pglite]`, () => fn('pglite'));
	if (process.env.TEST_DATABASE_URL) describe(`${name} [postgres]`, () => fn('postgres'));
	else describe.skip(`${name} [postgres] (skipped: TEST_DATABASE_URL not set)`, () => fn('postgres'));
}

export async function freePort(): Promise<number> {
	return new Promise((resolve, reject) => {
		const server = net.createServer();
		server.unref();
		server.on('error', reject);
		server.listen(0, '127.0.0.1', () => {
			const { port } = server.address() as net.AddressInfo;
			server.close(() => resolve(port));
		});
	});
}

export async function createPostgresDatabase(): Promise<string> {
	const base = process.env.TEST_DATABASE_URL;
	if (!base) throw new Error('TEST_DATABASE_URL is not set');
	const name = `${process.env.DUET_TEST_DB_PREFIX ?? 'duet_t_'}${randomBytes(6).toString('hex')}`;
	const sql = postgres(base, { max: 1, onnotice: () => {} });
	try {
		await sql.unsafe(`create database "${name}"`);
	} finally {
		await sql.end();
	}
	const url = new URL(base);
	url.pathname = `/${name}`;
	return url.toString();
}

export async function startServer(options: StartOptions): Promise<TestServer> {
	const port = options.port ?? (await freePort());
	const databaseUrl = options.databaseUrl ?? (options.engine === 'postgres' ? await createPostgresDatabase() : 'memory://');
	const origin = `http://127.0.0.1:${port}`;
	const child = spawn(process.execPath, [...(options.nodeArgs ?? []), 'server/index.js'], {
		env: {
			...process.env,
			PORT: String(port),
			HOST: '127.0.0.1',
			ORIGIN: origin,
			DATABASE_URL: databaseUrl,
			GAP_TIMEOUT_MS: '5000',
			// Tests sign up many users from one address; the rate-limit tests turn this back on.
			RATE_LIMIT: 'off',
			...options.env
		},
		stdio: ['ignore', 'pipe', 'pipe']
	});
	let output = '';
	child.stdout!.on('data', (d) => (output += d));
	child.stderr!.on('data', (d) => (output += d));
	const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

	await new Promise<void>((resolve, reject) => {
		const onExit = () => reject(new Error(`Server exited during start-up:\n${output}`));
		child.once('exit', onExit);
		const check = () => {
			if (output.includes('Listening on')) {
				child.off('exit', onExit);
				resolve();
			} else setTimeout(check, 25);
		};
		check();
	});

	return {
		origin,
		port,
		databaseUrl,
		process: child,
		output: () => output,
		async stop() {
			if (child.exitCode === null) child.kill('SIGTERM');
			const code = await exited;
			// The server logs what it did not expect; show it, or a 500 in a test stays a mystery.
			if (output.includes('Unexpected error')) console.error(`Server output (tail):\n${output.slice(-4000)}`);
			return code;
		},
		async kill() {
			if (child.exitCode === null) child.kill('SIGKILL');
			await exited;
		}
	};
}

export interface ApiResponse<T = any> {
	status: number;
	headers: Headers;
	body: T;
}

/** A minimal HTTP client with one cookie jar: one per simulated browser. */
export class ApiClient {
	cookie: string | undefined;

	constructor(readonly origin: string) {}

	async request<T = any>(
		method: string,
		path: string,
		body?: unknown,
		init: { headers?: Record<string, string>; raw?: string | Uint8Array } = {}
	): Promise<ApiResponse<T>> {
		const headers: Record<string, string> = { origin: this.origin, ...init.headers };
		if (this.cookie) headers.cookie = this.cookie;
		let payload: string | Uint8Array | undefined = init.raw;
		if (body !== undefined) {
			payload = JSON.stringify(body);
			headers['content-type'] ??= 'application/json';
		}
		const response = await fetch(this.origin + path, { method, headers, body: payload as BodyInit, redirect: 'manual' });
		const setCookie = response.headers.getSetCookie().find((c) => c.startsWith('session='));
		if (setCookie) {
			const value = setCookie.split(';')[0];
			this.cookie = value === 'session=' ? undefined : value;
		}
		const text = await response.text();
		let parsed: unknown = text;
		try {
			parsed = text ? JSON.parse(text) : null;
		} catch {
			/* not JSON */
		}
		return { status: response.status, headers: response.headers, body: parsed as T };
	}

	get<T = any>(path: string) {
		return this.request<T>('GET', path);
	}

	post<T = any>(path: string, body?: unknown) {
		return this.request<T>('POST', path, body ?? {});
	}
}

export function uniqueName(prefix = 'u'): string {
	return `${prefix.slice(0, 16)}_${randomBytes(6).toString('hex')}`;
}

/** Registers a fresh user and returns a signed-in client. */
export async function signedInClient(origin: string, username = uniqueName()) {
	const client = new ApiClient(origin);
	const res = await client.post('/api/auth/register', { username, password: 'correct horse battery' });
	if (res.status !== 201) throw new Error(`register failed: ${res.status} ${JSON.stringify(res.body)}`);
	return { client, user: res.body.user as { id: string; username: string } };
}

export type Person = Awaited<ReturnType<typeof signedInClient>>;

/** Two people signed in (through `origin` and `other`, one server unless told) and their conversation. */
export async function signedInPair(origin: string, other = origin) {
	const alice = await signedInClient(origin);
	const bob = await signedInClient(other);
	const opened = await alice.client.post('/api/conversations', { username: bob.user.username });
	if (opened.status !== 200) throw new Error(`opening the conversation failed: ${opened.status} ${JSON.stringify(opened.body)}`);
	return { alice, bob, conversationId: opened.body.conversation.id as string };
}

/** Bytes that differ from their neighbours and from a shifted copy of themselves, to catch misplaced ranges. */
export const pattern = (size: number) => Buffer.from(Array.from({ length: size }, (_, i) => (i * 7 + (i >> 8)) % 256));

/** A WebSocket test client that records every frame and lets a test await the one it expects. */
export class WsClient {
	readonly frames: any[] = [];
	closed: { code: number; reason: string } | undefined;
	private waiters: Array<() => void> = [];

	private constructor(readonly socket: WebSocket) {
		socket.on('message', (data) => {
			this.frames.push(JSON.parse(data.toString()));
			this.notify();
		});
		socket.on('close', (code, reason) => {
			this.closed = { code, reason: reason.toString() };
			this.notify();
		});
	}

	static async connect(origin: string, cookie: string | undefined, options: { cursor?: string; origin?: string } = {}) {
		const url = new URL('/ws', origin.replace(/^http/, 'ws'));
		if (options.cursor !== undefined) url.searchParams.set('cursor', options.cursor);
		const socket = new WebSocket(url, { headers: { ...(cookie ? { cookie } : {}), origin: options.origin ?? origin } });
		const client = new WsClient(socket);
		await new Promise<void>((resolve, reject) => {
			socket.once('open', () => resolve());
			socket.once('unexpected-response', (_req, res) =>
				reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { status: res.statusCode }))
			);
			socket.once('error', reject);
		});
		await client.waitFor((f) => f.type === 'ready');
		return client;
	}

	private notify() {
		const waiters = this.waiters;
		this.waiters = [];
		for (const w of waiters) w();
	}

	send(frame: unknown) {
		this.socket.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
	}

	/** Resolves with the first recorded frame matching `predicate` (past or future). */
	async waitFor(predicate: (frame: any) => boolean, timeoutMs = 15_000): Promise<any> {
		const deadline = Date.now() + timeoutMs;
		for (;;) {
			const found = this.frames.find(predicate);
			if (found) return found;
			if (this.closed) throw new Error(`socket closed (${this.closed.code}) before the expected frame`);
			const remaining = deadline - Date.now();
			if (remaining <= 0) throw new Error(`timed out waiting for a frame; got ${JSON.stringify(this.frames.slice(-5))}`);
			await new Promise<void>((resolve) => {
				const timer = setTimeout(resolve, remaining);
				this.waiters.push(() => {
					clearTimeout(timer);
					resolve();
				});
			});
		}
	}

	/** Resolves when `count` frames match `predicate`. */
	async waitForCount(predicate: (frame: any) => boolean, count: number, timeoutMs = 30_000): Promise<any[]> {
		await this.waitFor(() => this.frames.filter(predicate).length >= count, timeoutMs).catch((e) => {
			throw new Error(`${e.message} (have ${this.frames.filter(predicate).length}/${count})`);
		});
		return this.frames.filter(predicate);
	}

	async waitClosed(timeoutMs = 15_000): Promise<{ code: number; reason: string }> {
		await this.waitFor(() => this.closed !== undefined, timeoutMs).catch(() => {});
		if (!this.closed) throw new Error('socket did not close');
		return this.closed;
	}

	close() {
		this.socket.close();
	}
}

export interface SseMessage {
	id?: string;
	event: string;
	data: any;
}

/** An EventSource-like test client over fetch that records events and comments. */
export class SseClient {
	readonly events: SseMessage[] = [];
	comments = 0;
	status = 0;
	headers: Headers | undefined;
	ended = false;
	private readonly abort = new AbortController();
	private waiters: Array<() => void> = [];

	static async connect(origin: string, cookie: string | undefined, options: { cursor?: string; lastEventId?: string } = {}) {
		const client = new SseClient();
		const url = new URL('/api/events', origin);
		if (options.cursor !== undefined) url.searchParams.set('cursor', options.cursor);
		const headers: Record<string, string> = { accept: 'text/event-stream' };
		if (cookie) headers.cookie = cookie;
		if (options.lastEventId !== undefined) headers['last-event-id'] = options.lastEventId;
		const response = await fetch(url, { headers, signal: client.abort.signal });
		client.status = response.status;
		client.headers = response.headers;
		if (response.status !== 200) {
			client.ended = true;
			return Object.assign(client, { errorBody: await response.json() });
		}
		void client.read(response.body!);
		await client.waitFor((e) => e.event === 'ready');
		return client;
	}

	private async read(body: ReadableStream<Uint8Array>) {
		const decoder = new TextDecoder();
		let buffer = '';
		try {
			for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
				buffer += decoder.decode(chunk, { stream: true });
				let index;
				while ((index = buffer.indexOf('\n\n')) !== -1) {
					const block = buffer.slice(0, index);
					buffer = buffer.slice(index + 2);
					this.parse(block);
				}
				this.notify();
			}
		} catch {
			/* aborted */
		}
		this.ended = true;
		this.notify();
	}

	private parse(block: string) {
		const message: Partial<SseMessage> = {};
		let data = '';
		for (const line of block.split('\n')) {
			if (line.startsWith(':')) {
				if (line.includes('keepalive')) this.comments++;
				continue;
			}
			const [field, ...rest] = line.split(':');
			const value = rest.join(':').replace(/^ /, '');
			if (field === 'id') message.id = value;
			else if (field === 'event') message.event = value;
			else if (field === 'data') data += value;
		}
		if (!message.event && !data) return;
		this.events.push({ id: message.id, event: message.event ?? 'message', data: data ? JSON.parse(data) : null });
	}

	private notify() {
		const waiters = this.waiters;
		this.waiters = [];
		for (const w of waiters) w();
	}

	async waitFor(predicate: (e: SseMessage) => boolean, timeoutMs = 15_000): Promise<SseMessage> {
		const deadline = Date.now() + timeoutMs;
		for (;;) {
			const found = this.events.find(predicate);
			if (found) return found;
			if (this.ended) throw new Error('SSE stream ended before the expected event');
			const remaining = deadline - Date.now();
			if (remaining <= 0) throw new Error(`timed out; last events ${JSON.stringify(this.events.slice(-3))}`);
			await new Promise<void>((resolve) => {
				const timer = setTimeout(resolve, remaining);
				this.waiters.push(() => {
					clearTimeout(timer);
					resolve();
				});
			});
		}
	}

	async waitUntil(condition: () => boolean, timeoutMs = 30_000): Promise<void> {
		await this.waitFor(() => condition(), timeoutMs);
	}

	close() {
		this.abort.abort();
	}
}

// ---------------------------------------------------------------------------------------------
// Message changes (issue 16): one change over either transport, and a member's stream replayed
// from the start of their log. Kept as one block so merges with other additions stay trivial.
// ---------------------------------------------------------------------------------------------

/** A change as the `change` frame carries it (PROTOCOL.md "Changing messages"). */
export interface MessageChangeInput {
	op: 'edit' | 'delete' | 'react' | 'unreact';
	messageId: string;
	body?: string;
	emoji?: string;
}

/** The HTTP request that makes `change`: PATCH/DELETE on the message, PUT/DELETE on one reaction. */
export function changeRequest(change: MessageChangeInput): { method: string; path: string; body?: unknown } {
	const message = `/api/messages/${change.messageId}`;
	switch (change.op) {
		case 'edit':
			return { method: 'PATCH', path: message, body: { body: change.body } };
		case 'delete':
			return { method: 'DELETE', path: message };
		case 'react':
			return { method: 'PUT', path: `${message}/reactions/${encodeURIComponent(change.emoji!)}` };
		case 'unreact':
			return { method: 'DELETE', path: `${message}/reactions/${encodeURIComponent(change.emoji!)}` };
	}
}

/** Makes `change` over HTTP; a request that never got an answer (server gone) is status 0. */
export async function changeOverHttp(client: ApiClient, change: MessageChangeInput): Promise<ApiResponse> {
	const { method, path, body } = changeRequest(change);
	return client.request(method, path, body).catch(() => ({ status: 0, headers: new Headers(), body: null }));
}

/** The WebSocket frame that makes `change`, answered by `changed` or `error` with the same id. */
export function changeFrame(change: MessageChangeInput, id: string = globalThis.crypto.randomUUID()) {
	return { type: 'change' as const, id, change };
}

/** Sends `change` as a frame and resolves with its answer (`changed` or `error`); rejects if the socket closes first. */
export async function changeOverWs(ws: WsClient, change: MessageChangeInput, timeoutMs = 15_000): Promise<any> {
	const frame = changeFrame(change);
	ws.send(frame);
	return ws.waitFor((f) => f.id === frame.id && (f.type === 'changed' || f.type === 'error'), timeoutMs);
}

export type Transport = 'ws' | 'sse';

/** A member's push stream opened at the very start of their log (cursor 0), over either transport. */
export interface Replay {
	transport: Transport;
	/** Every durable event received so far, in stream order, as the event objects of the protocol. */
	events(): any[];
	/** Resolves once `condition` holds on the events received (past or future); bounded by `timeoutMs`. */
	waitUntil(condition: (events: any[]) => boolean, timeoutMs?: number): Promise<void>;
	/**
	 * Resolves once every event the log held when this was called has arrived: the whole log, when
	 * nothing renders to nothing. Waiting for a message's latest state is not enough: a read of the
	 * log shows every event of a message as the message now is, long before its last event.
	 */
	complete(timeoutMs?: number): Promise<void>;
	close(): void;
}

/** The head of the user's log: the cursor a stream opened without one starts from. */
export async function headCursor(origin: string, cookie: string | undefined): Promise<number> {
	const ws = await WsClient.connect(origin, cookie);
	ws.close();
	return Number(ws.frames.find((f) => f.type === 'ready').cursor);
}

/** Whether `events` reach `head` (the last event's cursor is at or past it). */
export const reaches = (events: any[], head: number) => head === 0 || Number(events.at(-1)?.cursor ?? 0) >= head;

export async function openReplay(origin: string, cookie: string | undefined, transport: Transport): Promise<Replay> {
	if (transport === 'ws') {
		const ws = await WsClient.connect(origin, cookie, { cursor: '0' });
		const events = () => ws.frames.filter((f) => typeof f.cursor === 'string' && f.type !== 'ready' && f.type !== 'reset');
		return {
			transport,
			events,
			waitUntil: async (condition, timeoutMs = 30_000) => {
				await ws.waitFor(() => condition(events()), timeoutMs);
			},
			complete: async (timeoutMs = 30_000) => {
				const head = await headCursor(origin, cookie);
				await ws.waitFor(() => reaches(events(), head), timeoutMs);
			},
			close: () => ws.close()
		};
	}
	const sse = await SseClient.connect(origin, cookie, { cursor: '0' });
	const events = () => sse.events.filter((e) => e.id !== undefined && e.event !== 'ready' && e.event !== 'reset').map((e) => e.data);
	return {
		transport,
		events,
		waitUntil: (condition, timeoutMs = 30_000) => sse.waitUntil(() => condition(events()), timeoutMs),
		complete: async (timeoutMs = 30_000) => {
			const head = await headCursor(origin, cookie);
			await sse.waitUntil(() => reaches(events(), head), timeoutMs);
		},
		close: () => sse.close()
	};
}
