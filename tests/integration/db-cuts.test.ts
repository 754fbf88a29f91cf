/**
 * The database cut while many sends are in flight, over and over: WebSocket and POST senders keep
 * sends going on several conversations, and at random moments (so mid-transaction, mid-COMMIT and
 * while the bus LISTENs) the PostgreSQL link is reset or blackholed for 5 s or longer. After every
 * cut: the process is up, sends were answered `unavailable` quickly, /readyz followed the database
 * both ways, every conversation took sends again soon after the restore; at the end every acked
 * message is stored once, seqs are gapless, and each client saw each message exactly once.
 * Changes (edits and reactions, over frames and over HTTP) are in flight at every cut too: they
 * are answered `unavailable` as quickly, work again after the restore, and at the end (checker.ts
 * says what the replay rule leaves provable) both members' whole logs, replayed and as the clients
 * were shown them live, hold exactly one `message_updated` per effective change and end on the
 * final state; no stream's versions fall; every acknowledged change that nothing could undo holds.
 * DB_CUTS_SEED replays a run; DB_CUTS_CYCLES changes the number of cuts.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { WebSocket } from 'ws';
import {
	checkChanges,
	checkConversation,
	checkStreamVersions,
	checkWholeLog,
	fetchAll,
	type ChangeRecord,
	type ClientRecord
} from './checker';
import {
	ApiClient,
	changeFrame,
	changeRequest,
	createPostgresDatabase,
	headCursor,
	openReplay,
	signedInClient,
	startServer,
	WsClient,
	type MessageChangeInput
} from './harness';
import { seededRandom, startTcpProxy, type CutMode } from './proxies';

/** The requirements (ms), and what a loaded two-core machine may add to each before it counts as failed. */
const UNAVAILABLE_WITHIN = 2000;
const NOT_READY_WITHIN = 2000;
const READY_WITHIN = 5000;
const SENDS_AGAIN_WITHIN = 5000;
const SLACK = Number(process.env.DB_CUTS_SLACK_MS ?? 1000);

const CYCLES = Number(process.env.DB_CUTS_CYCLES ?? 20);
const SEED = Number(process.env.DB_CUTS_SEED ?? Date.now() % 1_000_000);
const CONVERSATIONS = 4;
let lastStep = 'start';
const step = (what: string) => {
	lastStep = `${new Date().toISOString()} ${what}`;
	if (process.env.DB_CUTS_DEBUG) console.log(`db-cuts: ${lastStep}`);
};

/** Every wait of the suite is bounded: a hang shows as the step it hung in. */
function bounded<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
	let timer: ReturnType<typeof setTimeout> | undefined;
	return Promise.race([
		promise,
		new Promise<never>((_, reject) => {
			timer = setTimeout(() => reject(new Error(`${what} took over ${ms} ms (last step: ${lastStep})`)), ms);
		})
	]).finally(() => clearTimeout(timer));
}

type Send = { id: string; conversationId: string; clientId: string; clientSeq: number; body: string };

const EMOJI = ['👍', '❤️', '🎉'];
let edits = 0;
/**
 * A change by `userId`: an edit of one of `own` (the first few messages it sent), else a reaction
 * added or taken back on one of `shown`; undefined while there is nothing to change yet.
 */
function chooseChange(userId: string, own: string[], shown: string[]): MessageChangeInput | undefined {
	const targets = shown.slice(0, 4);
	if (own.length && Math.random() < 0.4)
		return { op: 'edit', messageId: own[Math.floor(Math.random() * Math.min(3, own.length))], body: `edit ${++edits}` };
	if (!targets.length) return undefined;
	const emoji = EMOJI[Math.floor(Math.random() * EMOJI.length)];
	return { op: Math.random() < 0.6 ? 'react' : 'unreact', messageId: targets[Math.floor(Math.random() * targets.length)], emoji };
}

/** Waits for `condition` to hold, checking often, for at most `timeoutMs`; returns how long it took. */
async function until(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<number> {
	const started = Date.now();
	while (!(await condition())) {
		if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
		await new Promise((r) => setTimeout(r, 25));
	}
	return Date.now() - started;
}

/**
 * When the latest cut began: a send's wait for its `unavailable` counts from then (or from the
 * send, if later), since a send made before the cut may first have waited for healthy work.
 */
let lastCutAt = 0;
const unavailableAfter = (sentAt: number) => Date.now() - Math.max(sentAt, lastCutAt);

/** Fails a request that hangs, so a hang shows as a number rather than a stuck test. */
async function timed(client: ApiClient, method: string, path: string, body?: unknown) {
	const started = Date.now();
	const headers: Record<string, string> = { origin: client.origin, ...(client.cookie ? { cookie: client.cookie } : {}) };
	if (body !== undefined) headers['content-type'] = 'application/json';
	try {
		const res = await fetch(client.origin + path, {
			method,
			headers,
			body: body === undefined ? undefined : JSON.stringify(body),
			signal: AbortSignal.timeout(10_000)
		});
		const text = await res.text();
		let parsed: any = null;
		try {
			parsed = text ? JSON.parse(text) : null;
		} catch {
			/* not JSON */
		}
		return { status: res.status, body: parsed, ms: Date.now() - started };
	} catch {
		return { status: 0, body: null, ms: Date.now() - started };
	}
}

/**
 * A browser-like WebSocket client: its outbox is resent (same ids) on reconnect and on a timer
 * until acked, it resumes from its last cursor, and it counts every message event it is given,
 * so a duplicate or a gap in what it was shown is caught.
 */
class WsSender {
	readonly clientId = randomUUID();
	readonly record: ClientRecord = { clientId: this.clientId, acked: new Map(), attempted: new Set(), view: new Map() };
	readonly outbox = new Map<string, Send & { sentAt: number }>();
	/** seq → how many times a message event for it arrived. */
	readonly shown = new Map<number, number>();
	/** Time from a send to its `unavailable` error frame. */
	readonly unavailableMs: number[] = [];
	/** Every change this client made, with its answer once `changed`; and the same timings for changes. */
	readonly changes: ChangeRecord[] = [];
	readonly changeUnavailableMs: number[] = [];
	/**
	 * The `message` and `message_updated` events of its conversation this client was shown, and how
	 * many resets (after which a gap is fair). Without one, its stream is its user's whole log.
	 */
	readonly events: any[] = [];
	resets = 0;
	/** id → the body it was sent with. */
	readonly bodies = new Map<string, string>();
	/** One change at a time, sent again (same frame) after an error and on reconnect until `changed`. */
	private change?: { frame: ReturnType<typeof changeFrame>; record: ChangeRecord; sentAt: number };
	private socket?: WebSocket;
	private cursor = '0';
	private nextClientSeq = 1;
	private timer?: ReturnType<typeof setInterval>;
	private resender?: ReturnType<typeof setInterval>;
	private stopped = false;

	constructor(
		private readonly origin: string,
		readonly api: ApiClient,
		readonly userId: string,
		readonly conversationId: string,
		private readonly sending: boolean
	) {}

	start() {
		this.connect();
		this.timer = setInterval(() => {
			if (this.sending && !this.paused && this.outbox.size < 16) this.enqueue();
			if (!this.paused && !this.change) this.nextChange();
		}, 40);
		this.resender = setInterval(() => this.flush(), 1000);
	}

	paused = false;

	stop() {
		this.stopped = true;
		clearInterval(this.timer);
		clearInterval(this.resender);
		this.socket?.terminate();
	}

	get inFlight() {
		return this.outbox.size;
	}

	get changesInFlight() {
		return this.change ? 1 : 0;
	}

	/** The cursor of the last event it was shown. */
	get streamCursor() {
		return Number(this.cursor);
	}

	private nextChange() {
		const shown = [...this.record.view!.entries()].sort((a, b) => a[0] - b[0]).map(([, id]) => id);
		const change = chooseChange(this.userId, [...this.record.acked.keys()], shown);
		if (!change) return;
		const record: ChangeRecord = { userId: this.userId, change, sentAt: performance.now() };
		this.changes.push(record);
		this.change = { frame: changeFrame(change), record, sentAt: Date.now() };
		this.transmitChange();
	}

	private transmitChange() {
		if (!this.change || this.socket?.readyState !== WebSocket.OPEN) return;
		this.change.sentAt = Date.now();
		this.socket.send(JSON.stringify(this.change.frame));
	}

	private enqueue() {
		const send = {
			id: randomUUID(),
			conversationId: this.conversationId,
			clientId: this.clientId,
			clientSeq: this.nextClientSeq++,
			body: `w${this.nextClientSeq}`
		};
		this.outbox.set(send.id, { ...send, sentAt: Date.now() });
		this.record.attempted.add(send.id);
		this.bodies.set(send.id, send.body);
		this.transmit(send);
	}

	private transmit(send: Send) {
		if (this.socket?.readyState !== WebSocket.OPEN) return;
		this.outbox.get(send.id)!.sentAt = Date.now();
		this.socket.send(JSON.stringify({ type: 'send', ...send }));
	}

	private flush() {
		for (const send of this.outbox.values()) this.transmit(send);
	}

	private connect() {
		if (this.stopped) return;
		const url = new URL(this.origin.replace(/^http/, 'ws') + '/ws');
		url.searchParams.set('cursor', this.cursor);
		const socket = new WebSocket(url, { headers: { cookie: this.api.cookie!, origin: this.origin } });
		this.socket = socket;
		socket.on('message', (data) => this.onFrame(JSON.parse(data.toString())));
		socket.on('open', () => {
			this.flush();
			this.transmitChange();
		});
		socket.on('close', () => {
			if (this.socket !== socket || this.stopped) return;
			this.socket = undefined;
			setTimeout(() => this.connect(), 100 + Math.random() * 200);
		});
		socket.on('error', () => socket.terminate());
		socket.on('unexpected-response', () => socket.terminate());
	}

	private onFrame(frame: any) {
		if (frame.type === 'ack') {
			this.outbox.delete(frame.id);
			this.record.acked.set(frame.id, frame.seq);
		} else if (frame.type === 'changed' && this.change && frame.id === this.change.frame.id) {
			this.change.record.acked = frame.message;
			this.change.record.settledAt = performance.now();
			this.change = undefined;
		} else if (frame.type === 'error' && this.change && frame.id === this.change.frame.id) {
			expect(frame.code, `error frame for a change: ${JSON.stringify(frame)}`).toBe('unavailable');
			this.changeUnavailableMs.push(unavailableAfter(this.change.sentAt));
			const pending = this.change;
			setTimeout(() => this.change === pending && this.transmitChange(), 100 + Math.random() * 100);
		} else if (frame.type === 'error' && frame.id) {
			const send = this.outbox.get(frame.id);
			expect(frame.code, `error frame for a send: ${JSON.stringify(frame)}`).toBe('unavailable');
			if (send) this.unavailableMs.push(unavailableAfter(send.sentAt));
		} else if (frame.type === 'message_updated' && frame.message.conversationId === this.conversationId) {
			this.events.push(frame);
		} else if (frame.type === 'message' && frame.message.conversationId === this.conversationId) {
			this.events.push(frame);
			this.shown.set(frame.message.seq, (this.shown.get(frame.message.seq) ?? 0) + 1);
			this.record.view!.set(frame.message.seq, frame.message.id);
		} else if (frame.type === 'reset') {
			this.resets++;
			// The browser refetches over HTTP, then goes on from the fresh cursor.
			void fetchAll(this.api, this.conversationId).then((all) => all.forEach((m) => this.record.view!.set(m.seq, m.id)));
		}
		if (frame.cursor) this.cursor = frame.cursor;
	}
}

/** The SSE transport's sender: POSTs in clientSeq order, several outstanding, each retried with its id until acked. */
class PostSender {
	readonly clientId = randomUUID();
	readonly record: ClientRecord = { clientId: this.clientId, acked: new Map(), attempted: new Set() };
	readonly unavailableMs: number[] = [];
	readonly changes: ChangeRecord[] = [];
	readonly changeUnavailableMs: number[] = [];
	readonly bodies = new Map<string, string>();
	/** Messages of the conversation to react to, besides its own. */
	shown: () => string[] = () => [];
	inFlight = 0;
	changesInFlight = 0;
	paused = false;
	private nextClientSeq = 1;
	private stopped = false;
	private readonly workers: Promise<void>[] = [];

	constructor(
		readonly api: ApiClient,
		readonly userId: string,
		readonly conversationId: string
	) {}

	start(concurrency = 6) {
		for (let i = 0; i < concurrency; i++) this.workers.push(this.work());
		this.workers.push(this.changeWork());
	}

	/** One change at a time, each retried until answered 200, as the client's change queue does. */
	private async changeWork() {
		while (!this.stopped) {
			const own = [...this.record.acked.keys()];
			const change = this.paused ? undefined : chooseChange(this.userId, own, [...this.shown().slice(0, 2), ...own.slice(0, 2)]);
			if (!change) {
				await new Promise((r) => setTimeout(r, 50));
				continue;
			}
			const record: ChangeRecord = { userId: this.userId, change, sentAt: performance.now() };
			this.changes.push(record);
			this.changesInFlight++;
			const { method, path, body } = changeRequest(change);
			while (!this.stopped) {
				const res = await timed(this.api, method, path, body);
				if (res.status === 200) {
					record.acked = res.body.message;
					record.settledAt = performance.now();
					break;
				}
				// A request that got no answer at all counts as one that hung until it failed.
				expect([0, 503], `a change answered ${res.status} ${JSON.stringify(res.body)}`).toContain(res.status);
				if (res.status === 503) expect(res.body.error.code).toBe('unavailable');
				this.changeUnavailableMs.push(unavailableAfter(Date.now() - res.ms));
				await new Promise((r) => setTimeout(r, 100 + Math.random() * 100));
			}
			this.changesInFlight--;
			await new Promise((r) => setTimeout(r, 40));
		}
	}

	async stop() {
		this.stopped = true;
		await Promise.all(this.workers);
	}

	private async work() {
		while (!this.stopped) {
			if (this.paused) {
				await new Promise((r) => setTimeout(r, 50));
				continue;
			}
			const send = {
				id: randomUUID(),
				conversationId: this.conversationId,
				clientId: this.clientId,
				clientSeq: this.nextClientSeq++,
				body: `p${this.nextClientSeq}`
			};
			this.record.attempted.add(send.id);
			this.bodies.set(send.id, send.body);
			this.inFlight++;
			// Like the outbox: the same id until acked, whatever happens meanwhile.
			while (!this.stopped) {
				const res = await timed(this.api, 'POST', '/api/messages', send);
				if (res.status === 200) {
					this.record.acked.set(send.id, res.body.seq);
					break;
				}
				expect([0, 503], `a send answered ${res.status} ${JSON.stringify(res.body)}`).toContain(res.status);
				if (res.status === 503) {
					expect(res.body.error.code).toBe('unavailable');
					this.unavailableMs.push(unavailableAfter(Date.now() - res.ms));
				}
				await new Promise((r) => setTimeout(r, 100 + Math.random() * 100));
			}
			this.inFlight--;
			await new Promise((r) => setTimeout(r, 40));
		}
	}
}

describe.skipIf(!process.env.TEST_DATABASE_URL)('PostgreSQL cut while sends are in flight [postgres]', () => {
	test(`${CYCLES} cuts (reset and blackhole, 5 s and longer) at random moments under WebSocket and POST load`, async () => {
		console.log(`db-cuts: seed ${SEED} (replay with DB_CUTS_SEED=${SEED}), ${CYCLES} cycles`);
		const random = seededRandom(SEED);
		const base = new URL(await createPostgresDatabase());
		const proxy = await startTcpProxy(base.hostname, Number(base.port || 5432));
		const viaProxy = new URL(base);
		viaProxy.port = String(proxy.port);
		const server = await startServer({ engine: 'postgres', databaseUrl: viaProxy.toString(), env: { BUS_HEARTBEAT_MS: '1000' } });
		const figures = {
			cycles: 0,
			inFlight: [] as number[],
			toUnavailable: [] as number[],
			toNotReady: [] as number[],
			toReady: [] as number[],
			toSends: [] as number[],
			changesInFlight: [] as number[],
			toChanges: [] as number[],
			/** Acknowledged changes shown to hold in the final state, and those a later or unsettled change may have undone. */
			held: 0,
			excused: 0,
			/** Live streams (no reset) checked as whole logs. */
			liveLogs: 0
		};
		type Member = Awaited<ReturnType<typeof signedInClient>>;
		const senders: {
			ws: WsSender[];
			post: PostSender[];
			probes: ClientRecord[];
			/** Changes made after each restore, to see the conversation take changes again. */
			probeChanges: ChangeRecord[];
			members: Member[];
			reader: ApiClient;
			conversationId: string;
		}[] = [];
		try {
			for (let i = 0; i < CONVERSATIONS; i++) {
				const alice = await signedInClient(server.origin);
				const bob = await signedInClient(server.origin);
				const conversationId = (await alice.client.post('/api/conversations', { username: bob.user.username })).body.conversation.id;
				const ws = [
					new WsSender(server.origin, alice.client, alice.user.id, conversationId, true),
					new WsSender(server.origin, bob.client, bob.user.id, conversationId, false)
				];
				const post = [new PostSender(bob.client, bob.user.id, conversationId)];
				post[0].shown = () => [...ws[0].record.acked.keys()];
				senders.push({ ws, post, probes: [], probeChanges: [], members: [alice, bob], reader: alice.client, conversationId });
			}
			// A user of its own to probe with, so its sends wait for nothing but the database.
			const prober = await signedInClient(server.origin);
			const peer = await signedInClient(server.origin);
			const probeConversation = (await prober.client.post('/api/conversations', { username: peer.user.username })).body.conversation.id;
			let probeSocket = await WsClient.connect(server.origin, prober.client.cookie);
			// The probe's changes go to a message of its own conversation: one edit over the socket, one reaction over HTTP.
			const probeTarget = { id: randomUUID(), conversationId: probeConversation, clientId: randomUUID(), clientSeq: 1, body: 'target' };
			expect((await prober.client.post('/api/messages', probeTarget)).status).toBe(200);
			const probeChanges: ChangeRecord[] = [];
			const recordProbeChange = (change: MessageChangeInput) => {
				// Answered `unavailable` during a cut, it may still have committed: unsettled unless acknowledged.
				probeChanges.push({ userId: prober.user.id, change, sentAt: performance.now() });
				return change;
			};
			for (const s of senders) {
				s.ws.forEach((w) => w.start());
				s.post.forEach((p) => p.start());
			}
			const all = () => senders.flatMap((s) => [...s.ws, ...s.post]);
			await until(
				() => senders.every((s) => s.post[0].record.acked.size > 5 && s.ws[0].record.acked.size > 5),
				30_000,
				'load to get going'
			);

			/** A fresh send (nothing ahead of it to wait for) over POST and over the WebSocket. */
			const probe = async () => {
				const send = { id: randomUUID(), conversationId: probeConversation, clientId: randomUUID(), clientSeq: 1, body: 'probe' };
				const started = Date.now();
				probeSocket.send({ type: 'send', ...send });
				const [res, frame] = await bounded(
					Promise.all([
						timed(prober.client, 'POST', '/api/messages', { ...send, id: randomUUID(), clientId: randomUUID() }),
						probeSocket.waitFor((f) => f.id === send.id, 10_000)
					]),
					12_000,
					'a probe send'
				);
				return { post: res, ws: { frame, ms: Date.now() - started } };
			};
			/** A change over HTTP and one over the WebSocket, each to a message that nothing else holds up. */
			const changeProbe = async () => {
				const frame = changeFrame(recordProbeChange({ op: 'edit', messageId: probeTarget.id, body: `probe edit ${++edits}` }));
				const started = Date.now();
				probeSocket.send(frame);
				const { method, path } = changeRequest(
					recordProbeChange({ op: 'react', messageId: probeTarget.id, emoji: EMOJI[edits % EMOJI.length] })
				);
				const [res, answer] = await bounded(
					Promise.all([timed(prober.client, method, path), probeSocket.waitFor((f) => f.id === frame.id, 10_000)]),
					12_000,
					'a probe change'
				);
				return { post: res, ws: { frame: answer, ms: Date.now() - started } };
			};

			/**
			 * Both members' whole logs, replayed from the start (one over WebSocket, one over SSE) and as
			 * the `live` clients were shown them (those without a reset: they too began at cursor 0),
			 * each read to its head, against GET, history and what the changes account for.
			 */
			const checkChangesOf = async (
				members: Member[],
				conversationId: string,
				bodies: Map<string, string>,
				changes: ChangeRecord[],
				live: WsSender[] = []
			) => {
				const finals = new Map<string, any>();
				const originals = new Map<string, any>();
				for (const id of new Set(changes.map((c) => c.change.messageId))) {
					const res = await timed(members[0].client, 'GET', `/api/messages/${id}`);
					expect(res.status, JSON.stringify(res.body)).toBe(200);
					finals.set(id, res.body.message);
					// As it was sent: the changes above must lead from here to the final state.
					originals.set(id, { ...res.body.message, body: bodies.get(id), editedAt: null, reactions: [], version: 0 });
				}
				for (const m of await fetchAll(members[1].client, conversationId)) {
					if (finals.has(m.id)) expect(m, 'history shows a message as GET does').toEqual(finals.get(m.id));
				}
				const replays = await Promise.all(members.map((m, i) => openReplay(server.origin, m.client.cookie, i === 0 ? 'ws' : 'sse')));
				try {
					const ofConversation = (events: any[]) => events.filter((e) => e.message?.conversationId === conversationId);
					for (const w of live) checkStreamVersions(w.events, finals, `the live stream of ${w.userId} (${w.resets} resets)`);
					for (const w of live.filter((w) => w.resets === 0)) {
						const member = members.find((m) => m.user.id === w.userId)!;
						const head = await headCursor(server.origin, member.client.cookie);
						await until(() => w.streamCursor >= head, 30_000, `the live stream of ${w.userId} to reach its head`);
						checkWholeLog(w.events, finals, `the live stream of ${w.userId}, a whole log`);
						figures.liveLogs++;
					}
					await Promise.all(replays.map((r) => r.complete()));
					replays.forEach((r, i) => checkWholeLog(ofConversation(r.events()), finals, `member ${i}'s log replayed over ${r.transport}`));
					return checkChanges({ finals, originals, changes });
				} finally {
					replays.forEach((r) => r.close());
				}
			};
			const checkConversationChanges = (s: (typeof senders)[number]) =>
				checkChangesOf(
					s.members,
					s.conversationId,
					new Map([...s.ws.flatMap((w) => [...w.bodies]), ...s.post.flatMap((p) => [...p.bodies])]),
					[...s.ws.flatMap((w) => w.changes), ...s.post.flatMap((p) => p.changes), ...s.probeChanges],
					s.ws
				);

			for (let cycle = 0; cycle < CYCLES; cycle++) {
				// Load runs a random while first, so the cut lands at any point of a batch's life.
				const lead = 200 + Math.floor(random() * 1300);
				const mode: CutMode = cycle % 2 === 0 ? 'reset' : 'blackhole';
				const cutMs = cycle % 10 === 7 ? 8000 : 5000;
				if (probeSocket.closed)
					probeSocket = await bounded(WsClient.connect(server.origin, prober.client.cookie), 10_000, 'reconnecting the probe socket');
				await new Promise((r) => setTimeout(r, lead));
				// Changes as well as sends in flight at every cut (a client picks its next change within 40 ms).
				const changesInFlight = () => all().reduce((n, s) => n + s.changesInFlight, 0);
				await until(() => changesInFlight() > 0, 5_000, 'a change in flight');
				figures.changesInFlight.push(changesInFlight());
				const inFlight = all().reduce((n, s) => n + s.inFlight, 0);
				lastCutAt = Date.now();
				proxy.cut(mode);
				step(`cut ${cycle} ${mode}`);
				const cutAt = Date.now();
				figures.inFlight.push(inFlight);

				// A send right at the cut meets the failure first hand (nothing yet knows the database is away).
				const [toNotReady, early, earlyChange] = await Promise.all([
					until(async () => (await timed(prober.client, 'GET', '/readyz')).status === 503, 10_000, '/readyz 503'),
					probe(),
					changeProbe()
				]);
				step('not ready, early probe answered');
				figures.toNotReady.push(toNotReady);
				expect(toNotReady, `cycle ${cycle} (${mode}): /readyz said 503 after`).toBeLessThan(NOT_READY_WITHIN + SLACK);
				const later = await until(() => Date.now() - cutAt > cutMs / 2, cutMs, 'mid-cut').then(probe);
				const laterChange = await changeProbe();
				for (const p of [early, later, earlyChange, laterChange]) {
					expect(p.post.status, `cycle ${cycle} (${mode}): probe POST during the cut`).toBe(503);
					expect(p.post.body.error.code).toBe('unavailable');
					expect(p.ws.frame.type === 'error' && p.ws.frame.code, `cycle ${cycle}: probe frame ${JSON.stringify(p.ws.frame)}`).toBe(
						'unavailable'
					);
					figures.toUnavailable.push(p.post.ms, p.ws.ms);
					expect(Math.max(p.post.ms, p.ws.ms), `cycle ${cycle} (${mode}): a send was answered after`).toBeLessThan(
						UNAVAILABLE_WITHIN + SLACK
					);
				}
				await until(() => Date.now() - cutAt >= cutMs, cutMs, 'the end of the cut');
				expect(server.process.exitCode, `the server exited:\n${server.output().slice(-3000)}`).toBeNull();

				proxy.restore();
				step('restored');
				const restoredAt = Date.now();
				const toReady = await until(async () => (await timed(prober.client, 'GET', '/readyz')).status === 200, 20_000, '/readyz 200');
				figures.toReady.push(toReady);
				expect(toReady, `cycle ${cycle} (${mode}): /readyz said 200 after`).toBeLessThan(READY_WITHIN + SLACK);
				// Changes too, at the same time: one over HTTP in every conversation, one over the probe's socket.
				const changesTaken = Promise.all([
					...senders.map(async (s) => {
						const [alice] = s.members;
						const record: ChangeRecord = {
							userId: alice.user.id,
							change: { op: cycle % 2 ? 'unreact' : 'react', messageId: s.ws[0].record.acked.keys().next().value!, emoji: '✅' },
							sentAt: performance.now()
						};
						s.probeChanges.push(record);
						const { method, path } = changeRequest(record.change);
						await until(
							async () => {
								const res = await timed(alice.client, method, path);
								if (res.status === 200) Object.assign(record, { acked: res.body.message, settledAt: performance.now() });
								return res.status === 200;
							},
							20_000,
							`conversation ${s.conversationId} to take changes`
						);
					}),
					until(
						async () => {
							if (probeSocket.closed) probeSocket = await WsClient.connect(server.origin, prober.client.cookie);
							const frame = changeFrame(recordProbeChange({ op: 'edit', messageId: probeTarget.id, body: `after ${++edits}` }));
							probeSocket.send(frame);
							const answer = await probeSocket.waitFor((f) => f.id === frame.id, 10_000);
							if (answer.type === 'changed') Object.assign(probeChanges.at(-1)!, { acked: answer.message, settledAt: performance.now() });
							return answer.type === 'changed';
						},
						20_000,
						'the probe socket to take changes'
					)
				]).then(() => Date.now() - restoredAt);
				changesTaken.catch(() => {}); // awaited below; a failing send must not leave it unhandled
				// Every conversation takes a fresh send again, whatever its senders left in flight.
				await Promise.all(
					senders.map(async (s) => {
						const record: ClientRecord = { clientId: randomUUID(), acked: new Map(), attempted: new Set() };
						s.probes.push(record);
						const send = { id: randomUUID(), conversationId: s.conversationId, clientId: record.clientId, clientSeq: 1, body: 'after' };
						record.attempted.add(send.id);
						await until(
							async () => {
								const res = await timed(s.reader, 'POST', '/api/messages', send);
								if (res.status === 200) record.acked.set(send.id, res.body.seq);
								return res.status === 200;
							},
							20_000,
							`conversation ${s.conversationId} to take sends`
						);
					})
				);
				step('ready');
				const toSends = Date.now() - restoredAt;
				const toChanges = await changesTaken;
				figures.toChanges.push(toChanges);
				expect(toChanges, `cycle ${cycle} (${mode}): changes taken again after`).toBeLessThan(SENDS_AGAIN_WITHIN + SLACK);
				figures.toSends.push(toSends);
				expect(toSends, `cycle ${cycle} (${mode}): every conversation took sends again after`).toBeLessThan(SENDS_AGAIN_WITHIN + SLACK);
				figures.cycles++;
				console.log(
					`db-cuts: cycle ${cycle} ${mode} ${cutMs} ms after ${lead} ms of load: ${inFlight} sends in flight, ` +
						`503 in ${toNotReady} ms, sends unavailable in ≤ ${Math.max(early.post.ms, early.ws.ms, later.post.ms, later.ws.ms)} ms, ` +
						`ready in ${toReady} ms, all conversations sending in ${toSends} ms and changing in ${toChanges} ms`
				);
			}

			// Stop typing, let every outbox drain, then compare what was promised with what is stored.
			for (const s of all()) s.paused = true;
			await until(() => all().every((s) => s.inFlight === 0 && s.changesInFlight === 0), 60_000, 'every outbox to drain');
			for (const s of senders) {
				const stored = await fetchAll(s.reader, s.conversationId);
				await until(() => s.ws.every((w) => w.record.view!.size >= stored.length), 30_000, 'every client to be shown everything');
				// While the clients still listen: the last changes may still be on their way to them.
				const counts = await checkConversationChanges(s);
				figures.held += counts.held;
				figures.excused += counts.excused;
				s.ws.forEach((w) => w.stop());
				await Promise.all(s.post.map((p) => p.stop()));
				await checkConversation(s.reader, s.conversationId, [...s.ws.map((w) => w.record), ...s.post.map((p) => p.record), ...s.probes]);
				for (const w of s.ws) {
					const twice = [...w.shown].filter(([, n]) => n > 1).map(([seq]) => seq);
					expect(twice, 'message events shown more than once').toEqual([]);
					expect(w.shown.size, 'every message shown through the stream (or its reset)').toBeGreaterThan(0);
				}
			}
			const probeCounts = await checkChangesOf(
				[prober, peer],
				probeConversation,
				new Map([[probeTarget.id, probeTarget.body]]),
				probeChanges
			);
			figures.held += probeCounts.held;
			figures.excused += probeCounts.excused;
			const unavailable = senders.flatMap((s) => [...s.ws.flatMap((w) => w.unavailableMs), ...s.post.flatMap((p) => p.unavailableMs)]);
			const changeUnavailable = senders.flatMap((s) => [
				...s.ws.flatMap((w) => w.changeUnavailableMs),
				...s.post.flatMap((p) => p.changeUnavailableMs)
			]);
			const changes = senders.flatMap((s) => [...s.ws.flatMap((w) => w.changes), ...s.post.flatMap((p) => p.changes)]);
			const stats = (xs: number[]) =>
				`min ${Math.min(...xs)}, median ${xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]}, max ${Math.max(...xs)}`;
			console.log(
				`db-cuts figures (seed ${SEED}): ${figures.cycles} cut cycles; sends in flight per cut ${stats(figures.inFlight)}; ` +
					`probe sends answered unavailable in ms ${stats(figures.toUnavailable)}; ` +
					`load sends answered unavailable ${unavailable.length} times, in ms after the cut (or the send) ${stats(unavailable)}; ` +
					`/readyz 503 after cut in ms ${stats(figures.toNotReady)}; /readyz 200 after restore in ms ${stats(figures.toReady)}; ` +
					`every conversation sending after restore in ms ${stats(figures.toSends)}; ` +
					`changes in flight per cut ${stats(figures.changesInFlight)}, ${changes.filter((c) => c.acked).length} of ${changes.length} acknowledged, ` +
					`answered unavailable ${changeUnavailable.length} times, in ms ${stats(changeUnavailable)}; ` +
					`${figures.held} shown to hold in the final state, ${figures.excused} possibly undone later; ` +
					`${figures.liveLogs} of ${senders.length * 2} live streams counted as whole logs; ` +
					`changes taken after restore in ms ${stats(figures.toChanges)}; ` +
					`messages stored ${(await Promise.all(senders.map((s) => fetchAll(s.reader, s.conversationId)))).reduce((n, m) => n + m.length, 0)}`
			);
			expect(figures.cycles).toBe(CYCLES);
			// Every send refused during a cut, not only the probes: also those already in flight or
			// held behind an earlier send of their client when the database went away.
			expect(Math.max(...unavailable), 'the slowest unavailable answer to a load send').toBeLessThan(UNAVAILABLE_WITHIN + SLACK);
			expect(changeUnavailable.length, 'load changes were refused during cuts').toBeGreaterThan(0);
			expect(Math.max(...changeUnavailable), 'the slowest unavailable answer to a load change').toBeLessThan(UNAVAILABLE_WITHIN + SLACK);
			expect(Math.min(...figures.changesInFlight), 'changes in flight at every cut').toBeGreaterThan(0);
			expect(server.output()).not.toContain("reading 'write'");
		} catch (error) {
			// What the server was doing when the run went wrong is most of the diagnosis.
			const exit = server.process.exitCode === null ? 'still running' : `exited with ${server.process.exitCode}`;
			console.error(`db-cuts failed (seed ${SEED}); the server ${exit}; its output (tail):\n${server.output().slice(-6000)}`);
			throw error;
		} finally {
			proxy.restore();
			for (const s of senders) {
				s.ws.forEach((w) => w.stop());
				await Promise.all(s.post.map((p) => p.stop()));
			}
			await server.stop();
			await proxy.close();
		}
	}, 420_000);
});
