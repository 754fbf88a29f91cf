/**
 * Message changes under SIGKILL: two members edit and react over HTTP and over WebSocket frames,
 * many at once on a few messages, and the server is killed mid-burst at a random point, several
 * rounds on the same durable database (PostgreSQL, and PGlite on disk with fsync on). After each
 * restart (checker.ts says what the replay rule leaves provable): each member's whole log, replayed,
 * holds exactly one `message_updated` per effective change of each message (none lost, none twice)
 * and ends on the final state, which agrees with GET /api/messages/:id and history for both
 * members; no stream's versions fall or pass the final state; every answer is the message at its
 * version and no acknowledged change that nothing could undo is missing; and a resent acknowledged
 * change changes nothing (a marker edit after the resends is exactly the next version).
 * CHANGE_FAULTS_SEED replays a run's choices; CHANGE_FAULTS_ROUNDS changes the number of kills.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { changeHolds, checkChanges, checkStreamVersions, checkWholeLog, fetchAll, type ChangeRecord } from './checker';
import {
	changeOverHttp,
	changeOverWs,
	createPostgresDatabase,
	describeEngines,
	freePort,
	openReplay,
	signedInClient,
	startServer,
	WsClient,
	type MessageChangeInput,
	type TestServer,
	type Transport
} from './harness';
import { seededRandom } from './proxies';

const SEED = Number(process.env.CHANGE_FAULTS_SEED ?? Date.now() % 1_000_000);
const ROUNDS = Number(process.env.CHANGE_FAULTS_ROUNDS ?? 3);
/** Concurrent changes per member and transport. */
const WORKERS = 3;
/** A ZWJ sequence and one with a variation selector among them, so the path encoding is exercised. */
const EMOJI = ['👍', '❤️', '😂', '👨‍👩‍👧'];

async function until(condition: () => boolean, timeoutMs: number, what: string) {
	const deadline = Date.now() + timeoutMs;
	while (!condition()) {
		if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
		await new Promise((r) => setTimeout(r, 20));
	}
}

describeEngines('message changes with the server killed (SIGKILL) mid-burst', (engine) => {
	let dir: string | undefined;
	let server: TestServer | undefined;
	afterEach(async () => {
		await server?.kill();
		if (dir) rmSync(dir, { recursive: true, force: true });
	});

	test(`${ROUNDS} kills at random points of a burst of edits and reactions over HTTP and WebSocket`, async () => {
		const seed = SEED + (engine === 'postgres' ? 1 : 0);
		console.log(`change-faults [${engine}]: seed ${seed} (replay with CHANGE_FAULTS_SEED=${SEED}), ${ROUNDS} rounds`);
		const random = seededRandom(seed);
		const pick = <T>(xs: T[]) => xs[Math.floor(random() * xs.length)];
		dir = mkdtempSync(path.join(tmpdir(), 'duet-change-kill-'));
		const databaseUrl = engine === 'postgres' ? await createPostgresDatabase() : '';
		const port = await freePort();
		// The embedded default with fsync on, as an operator runs it.
		const env = { PGLITE_DIR: path.join(dir, 'pglite'), PGLITE_UNSAFE_NO_FSYNC: '' };
		server = await startServer({ engine, port, databaseUrl, env });
		const origin = server.origin;
		const alice = await signedInClient(origin);
		const bob = await signedInClient(origin);
		const members = [alice, bob];
		const conversationId = (await alice.client.post('/api/conversations', { username: bob.user.username })).body.conversation.id;
		// A few messages, two each, so many changes meet on the same rows.
		const own = new Map<string, string[]>();
		for (const member of members) {
			const clientId = randomUUID();
			for (let clientSeq = 1; clientSeq <= 2; clientSeq++) {
				const id = randomUUID();
				const res = await member.client.post('/api/messages', {
					id,
					conversationId,
					clientId,
					clientSeq,
					body: `${member.user.username} ${clientSeq}`
				});
				expect(res.status).toBe(200);
				own.set(member.user.id, [...(own.get(member.user.id) ?? []), id]);
			}
		}
		const history = await fetchAll(alice.client, conversationId);
		const messageIds = history.map((m) => m.id);
		const originals = new Map(history.map((m) => [m.id, m]));
		expect(history.map((m) => m.version)).toEqual([0, 0, 0, 0]);

		const changes: ChangeRecord[] = [];
		let edits = 0;
		const choose = (userId: string): MessageChangeInput => {
			const r = random();
			if (r < 0.4) return { op: 'edit', messageId: pick(own.get(userId)!), body: `edit ${++edits} by ${userId.slice(0, 8)}` };
			return { op: r < 0.75 ? 'react' : 'unreact', messageId: pick(messageIds), emoji: pick(EMOJI) };
		};

		/** Both members fire changes over both transports until the server is gone. */
		async function burst() {
			const state = { killed: false, acked: 0, inFlight: 0 };
			const sockets = await Promise.all(members.map((m) => WsClient.connect(origin, m.client.cookie)));
			const worker = async (member: (typeof members)[number], transport: 'http' | 'ws', ws: WsClient) => {
				while (!state.killed) {
					const record: ChangeRecord = { userId: member.user.id, change: choose(member.user.id), sentAt: performance.now() };
					changes.push(record);
					state.inFlight++;
					if (transport === 'http') {
						const res = await changeOverHttp(member.client, record.change);
						const killed = state.killed;
						expect(
							res.status === 200 || (killed && res.status === 0),
							`${JSON.stringify(record.change)}: ${res.status} ${JSON.stringify(res.body)}`
						).toBe(true);
						if (res.status === 200) record.acked = res.body.message;
					} else {
						const answer = await changeOverWs(ws, record.change).catch((error) => {
							if (!state.killed) throw error;
							return undefined;
						});
						if (answer) {
							expect(answer, `${JSON.stringify(record.change)} over WebSocket`).toMatchObject({ type: 'changed' });
							record.acked = answer.message;
						}
					}
					state.inFlight--;
					if (record.acked) {
						record.settledAt = performance.now();
						state.acked++;
					}
				}
			};
			const workers = members.flatMap((member, i) =>
				(['http', 'ws'] as const).flatMap((transport) => Array.from({ length: WORKERS }, () => worker(member, transport, sockets[i])))
			);
			return { state, sockets, done: Promise.all(workers) };
		}

		/** After a restart: the server serves, and what it shows is exactly what the changes account for. */
		async function verify(round: number, live: WsClient[]) {
			expect((await alice.client.get('/healthz')).status).toBe(200);
			const finals = new Map<string, any>();
			for (const id of messageIds) {
				const [a, b] = await Promise.all(members.map((m) => m.client.get(`/api/messages/${id}`)));
				expect(a.status, JSON.stringify(a.body)).toBe(200);
				expect(b.body, 'both members GET the same message').toEqual(a.body);
				finals.set(id, a.body.message);
			}
			expect(await fetchAll(bob.client, conversationId), 'history shows the messages as GET does').toEqual(
				messageIds.map((id) => finals.get(id))
			);
			// What the live streams showed up to the kill: no version falls, none is past the final state.
			live.forEach((ws, i) => checkStreamVersions(ws.frames, finals, `member ${i}'s live stream in round ${round}`));
			const transports: Transport[] = round % 2 === 0 ? ['ws', 'sse'] : ['sse', 'ws'];
			const replays = await Promise.all(members.map((m, i) => openReplay(origin, m.client.cookie, transports[i])));
			try {
				// Acknowledged changes that still show in the final state, sent again: each is answered with
				// that state, version unchanged. Over HTTP and WebSocket in turn.
				const resend = messageIds.flatMap((id) => {
					const held = changes.filter((c) => c.acked && c.change.messageId === id && changeHolds(finals.get(id), c));
					return [held.findLast((c) => c.change.op === 'edit'), held.findLast((c) => c.change.op !== 'edit')].filter(
						(c) => c !== undefined
					);
				});
				expect(resend.length, 'some acknowledged changes to send again').toBeGreaterThan(0);
				const sockets = await Promise.all(members.map((m) => WsClient.connect(origin, m.client.cookie)));
				for (const [i, original] of resend.entries()) {
					const member = members.findIndex((m) => m.user.id === original.userId);
					const record: ChangeRecord = { userId: original.userId, change: original.change, sentAt: performance.now() };
					if (i % 2 === 0) {
						const res = await changeOverHttp(members[member].client, original.change);
						expect(res.status, `resent ${JSON.stringify(original.change)}: ${JSON.stringify(res.body)}`).toBe(200);
						record.acked = res.body.message;
					} else {
						const answer = await changeOverWs(sockets[member], original.change);
						expect(answer, `resent ${JSON.stringify(original.change)} over WebSocket`).toMatchObject({ type: 'changed' });
						record.acked = answer.message;
					}
					record.settledAt = performance.now();
					expect(record.acked, `resent ${JSON.stringify(original.change)} changes nothing`).toEqual(finals.get(original.change.messageId));
					changes.push(record);
				}
				sockets.forEach((s) => s.close());

				// A marker after the resends: were any of them an event, the marker would not be the very
				// next version, and the logs below would count one too many.
				const markerId = own.get(alice.user.id)![0];
				const marker: ChangeRecord = {
					userId: alice.user.id,
					change: { op: 'edit', messageId: markerId, body: `marker ${round}` },
					sentAt: performance.now()
				};
				changes.push(marker);
				const res = await changeOverHttp(alice.client, marker.change);
				expect(res.status, JSON.stringify(res.body)).toBe(200);
				marker.acked = res.body.message;
				marker.settledAt = performance.now();
				expect(marker.acked.version, 'the marker is the next version: the resends made none').toBe(finals.get(markerId).version + 1);
				finals.set(markerId, (await alice.client.get(`/api/messages/${markerId}`)).body.message);
				// Both logs read to their heads (the marker's events last), then counted.
				await Promise.all(replays.map((r) => r.complete()));
				replays.forEach((r, i) => checkWholeLog(r.events(), finals, `member ${i}'s log replayed over ${r.transport} in round ${round}`));
				const { held, excused } = checkChanges({ finals, originals, changes });
				const acked = changes.filter((c) => c.acked).length;
				console.log(
					`change-faults [${engine}] round ${round}: ${changes.length} changes so far, ${acked} acknowledged ` +
						`(${held} shown to hold in the final state, ${excused} possibly undone by a later or unsettled change); ` +
						`versions ${messageIds.map((id) => finals.get(id).version).join('/')}; replayed over ${transports.join(' and ')}`
				);
			} finally {
				replays.forEach((r) => r.close());
			}
		}

		try {
			for (let round = 0; round < ROUNDS; round++) {
				const killAfter = 30 + Math.floor(random() * 170);
				const { state, sockets, done } = await burst();
				// A worker that fails stops the wait at once rather than at its timeout.
				await Promise.race([until(() => state.acked >= killAfter, 90_000, `${killAfter} acknowledged changes`), done]);
				const inFlight = state.inFlight;
				state.killed = true;
				await server.kill();
				await done;
				expect(inFlight, 'changes were in flight at the kill').toBeGreaterThan(0);
				// The server has exited: nothing in flight can commit any more.
				const killedAt = performance.now();
				for (const record of changes) record.settledAt ??= killedAt;
				server = await startServer({ engine, port, databaseUrl, env });
				await verify(round, sockets);
			}
		} catch (error) {
			console.error(
				`change-faults [${engine}] failed (replay with CHANGE_FAULTS_SEED=${SEED}); server output (tail):\n${server.output().slice(-4000)}`
			);
			throw error;
		}
	}, 300_000);
});
