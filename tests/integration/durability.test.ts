/**
 * An ack on embedded PGlite means the message is on disk: the production server, on its default
 * database (a PGlite directory), makes an fsync system call on the WAL for every send it acks.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { signedInClient, startServer, type TestServer } from './harness';
import { straceNote, straceSkip, syncCalls, walSyncs } from './strace';

const SENDS = 5;

describe.skipIf(straceSkip)(`the embedded default syncs before it acks${straceNote}`, () => {
	let dir: string;
	let server: TestServer;
	beforeAll(async () => {
		dir = mkdtempSync(path.join(os.tmpdir(), 'duet-durability-'));
		// DATABASE_URL unset and nothing else said: the default an operator gets.
		server = await startServer({ engine: 'pglite', databaseUrl: '', env: { PGLITE_DIR: dir, PGLITE_UNSAFE_NO_FSYNC: '' } });
	});
	afterAll(async () => {
		await server?.stop();
		rmSync(dir, { recursive: true, force: true });
	});

	test(`${SENDS} acked sends, one after another, make at least ${SENDS} fsyncs of the WAL`, async ({ skip }) => {
		const alice = await signedInClient(server.origin);
		const bob = await signedInClient(server.origin);
		const opened = await alice.client.post('/api/conversations', { username: bob.user.username });
		const conversationId = opened.body.conversation.id as string;
		const clientId = randomUUID();
		const statuses: number[] = [];
		const calls = await syncCalls(
			server.process.pid!,
			async () => {
				// One at a time, so each is a group-commit batch of its own and must be synced on its own.
				for (let seq = 1; seq <= SENDS; seq++) {
					const res = await alice.client.post('/api/messages', {
						id: randomUUID(),
						conversationId,
						clientId,
						clientSeq: seq,
						body: `durable ${seq}`
					});
					statuses.push(res.status);
				}
			},
			skip
		);
		expect(statuses).toEqual(Array(SENDS).fill(200));
		expect(walSyncs(calls).length, calls.join('\n')).toBeGreaterThanOrEqual(SENDS);
	});
});
