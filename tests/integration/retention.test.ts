/**
 * Event log retention in the running server (PostgreSQL, where the test can age rows as the clock
 * would): the periodic job prunes what is older than EVENT_RETENTION_DAYS, a device resuming from
 * before that gets `reset` (and then everything it needs from a fresh start), and one resuming
 * from what is kept resumes as always.
 */
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createPostgresDatabase, signedInPair, startServer, WsClient, type TestServer } from './harness';

const suite = process.env.TEST_DATABASE_URL ? describe : describe.skip;

suite('event log retention in the server', () => {
	let databaseUrl: string;
	let server: TestServer;
	let sql: postgres.Sql;
	beforeAll(async () => {
		databaseUrl = await createPostgresDatabase();
		server = await startServer({ engine: 'postgres', databaseUrl, env: { EVENT_RETENTION_DAYS: '1', RETENTION_SWEEP_MS: '200' } });
		sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
	});
	afterAll(async () => {
		await sql?.end();
		await server?.stop();
		expect(server.output()).not.toContain('Unexpected error');
	});

	test('events older than the retention are pruned; a cursor from before them is reset, a kept one resumes', async () => {
		const { alice, bob, conversationId } = await signedInPair(server.origin);
		for (let clientSeq = 1; clientSeq <= 3; clientSeq++) {
			const sent = await alice.client.post('/api/messages', {
				id: crypto.randomUUID(),
				conversationId,
				clientId: '00000000-0000-4000-8000-000000000001',
				clientSeq,
				body: `message ${clientSeq}`
			});
			expect(sent.status).toBe(200);
		}
		// Bob's log: the conversation (1), then three messages (2–4). The first two age past the retention.
		const rows = await sql<{ seq: string }[]>`select seq from user_events where user_id = ${bob.user.id} order by seq`;
		expect(rows.map((r) => Number(r.seq))).toEqual([1, 2, 3, 4]);
		await sql`update user_events set created_at = now() - interval '2 days' where user_id = ${bob.user.id} and seq <= 2`;
		await expect
			.poll(
				async () =>
					(await sql<{ seq: string }[]>`select seq from user_events where user_id = ${bob.user.id} order by seq`).map((r) => Number(r.seq)),
				{
					timeout: 10_000
				}
			)
			.toEqual([3, 4]);

		// Had seen only the conversation: message 1 (cursor 2) is gone for good, so the stream resets.
		const stale = await WsClient.connect(server.origin, bob.client.cookie, { cursor: '1' });
		const first = await stale.waitFor((f) => f.type === 'reset' || f.type === 'ready');
		expect(first).toMatchObject({ type: 'reset', cursor: '4' });
		stale.close();

		// Had seen message 1: everything after it is kept, so it resumes with messages 2 and 3.
		const kept = await WsClient.connect(server.origin, bob.client.cookie, { cursor: '2' });
		const ready = await kept.waitFor((f) => f.type === 'ready');
		expect(ready.cursor).toBe('2');
		const replayed = await kept.waitForCount((f) => f.type === 'message', 2);
		expect(replayed.map((f) => f.message.body)).toEqual(['message 2', 'message 3']);
		expect(kept.frames.some((f) => f.type === 'reset')).toBe(false);
		kept.close();
	});
});
