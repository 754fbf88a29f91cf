/**
 * Message retention (MESSAGE_RETENTION_DAYS) in the running server, on both engines: messages
 * aged past the retention are deleted with their attachment (its download answers 404) and
 * reactions, their text leaves search, both members get `message_updated`, a newer reply quoting
 * one stays and quotes a deleted message. The clock cannot be moved in a running server, so the
 * rows are aged: with SQL while it runs (PostgreSQL, where two instances sweep the same database
 * at once and the peers see it live), or with the server stopped (PGlite, one process; the peers
 * see it on resume).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { afterAll, expect, test } from 'vitest';
import { openPgliteDir } from '../../src/lib/server/db/pglite-durable.js';
import { createPostgresDatabase, describeEngines, freePort, signedInPair, startServer, WsClient, type TestServer } from './harness';

describeEngines('message retention in the server', (engine) => {
	const dir = mkdtempSync(path.join(tmpdir(), 'duet-msg-retention-'));
	const servers: TestServer[] = [];
	afterAll(async () => {
		for (const server of servers) await server.stop();
		for (const server of servers) expect(server.output()).not.toContain('Unexpected error');
		rmSync(dir, { recursive: true, force: true });
	});

	test('old messages go with their attachments and reactions, live to both members; newer ones stay', { timeout: 240_000 }, async () => {
		const pgliteDir = path.join(dir, 'pglite');
		const databaseUrl = engine === 'postgres' ? await createPostgresDatabase() : '';
		const env = { MESSAGE_RETENTION_DAYS: '1', RETENTION_SWEEP_MS: '200', PGLITE_DIR: pgliteDir };
		const port = await freePort();
		const first = await startServer({ engine, port, databaseUrl, env });
		servers.push(first);
		// On PostgreSQL a second instance sweeps the same database at the same time: Bob sits on it.
		const second = engine === 'postgres' ? await startServer({ engine, databaseUrl, env }) : first;
		if (second !== first) servers.push(second);
		const { alice, bob, conversationId } = await signedInPair(first.origin, second.origin);

		const form = new FormData();
		form.append('conversationId', conversationId);
		form.append('file', new Blob([new Uint8Array(2048).fill(7)], { type: 'application/octet-stream' }), 'notes.bin');
		const uploaded = await fetch(`${first.origin}/api/attachments`, {
			method: 'POST',
			headers: { origin: first.origin, cookie: alice.client.cookie! },
			body: form
		});
		expect(uploaded.status).toBe(201);
		const attachment = (await uploaded.json()).attachment;
		const old = {
			id: randomUUID(),
			conversationId,
			clientId: randomUUID(),
			clientSeq: 1,
			body: 'retained nevermore',
			attachments: [attachment.id]
		};
		expect((await alice.client.post('/api/messages', old)).status).toBe(200);
		const oldReply = { id: randomUUID(), conversationId, clientId: randomUUID(), clientSeq: 1, body: 'old answer' };
		expect((await bob.client.post('/api/messages', oldReply)).status).toBe(200);
		expect((await bob.client.request('PUT', `/api/messages/${old.id}/reactions/${encodeURIComponent('👍')}`)).status).toBe(200);
		const fresh = { id: randomUUID(), conversationId, clientId: randomUUID(), clientSeq: 2, body: 'fresh answer', replyTo: old.id };
		expect((await bob.client.post('/api/messages', fresh)).status).toBe(200);
		const download = (person: typeof alice, origin: string) =>
			fetch(origin + attachment.url, { headers: { cookie: person.client.cookie! } }).then((r) => r.status);
		expect(await download(bob, second.origin)).toBe(200);

		const aged = [old.id, oldReply.id];
		const sql = engine === 'postgres' ? postgres(databaseUrl, { max: 1, onnotice: () => {} }) : undefined;
		/** Per aged message, how many times the log told a member it changed. */
		const updatesLogged = async () =>
			(
				await sql!<{ message_id: string; n: number }[]>`
				select message_id, count(*)::int as n from user_events
				where type = 'message_updated' and message_id = any(${aged}::uuid[]) group by message_id`
			).reduce((counts, r) => ({ ...counts, [r.message_id]: r.n }), {} as Record<string, number>);
		const loggedBefore = sql ? await updatesLogged() : {};
		let aliceWs: WsClient;
		let bobWs: WsClient;
		if (engine === 'postgres') {
			aliceWs = await WsClient.connect(first.origin, alice.client.cookie);
			bobWs = await WsClient.connect(second.origin, bob.client.cookie);
			await Promise.all([aliceWs, bobWs].map((ws) => ws.waitFor((f) => f.type === 'ready')));
			await sql!`update messages set created_at = now() - interval '2 days' where id = any(${aged}::uuid[])`;
		} else {
			await first.stop();
			const pglite = await openPgliteDir(pgliteDir);
			await pglite.query(`update messages set created_at = now() - interval '2 days' where id = any($1::uuid[])`, [aged]);
			await pglite.close();
			const restarted = await startServer({ engine, port, databaseUrl, env });
			servers.splice(0, 1, restarted);
			aliceWs = await WsClient.connect(restarted.origin, alice.client.cookie, { cursor: '0' });
			bobWs = await WsClient.connect(restarted.origin, bob.client.cookie, { cursor: '0' });
		}
		const origin = servers[0].origin;

		// Both members are told, each of each aged message: deleted, its text and reactions gone.
		for (const ws of [aliceWs, bobWs]) {
			for (const id of aged) {
				const update = await ws.waitFor((f) => f.type === 'message_updated' && f.message.id === id && f.message.deletedAt !== null, 15_000);
				expect(update.message).toMatchObject({ body: '', attachments: [], reactions: [] });
			}
			ws.close();
		}
		expect(await download(alice, origin)).toBe(404);
		expect(await download(bob, origin)).toBe(404);

		const history = await alice.client.get(`/api/conversations/${conversationId}/messages?limit=50`);
		const byId = new Map<string, any>(history.body.messages.map((m: any) => [m.id, m]));
		expect(byId.get(fresh.id)).toMatchObject({ body: 'fresh answer', deletedAt: null, replyTo: old.id });
		for (const id of aged) expect(byId.get(id)).toMatchObject({ body: '' });
		const found = await alice.client.get(`/api/search?q=nevermore`);
		expect(found.body.results).toEqual([]);

		if (sql) {
			// Two instances swept: still one deletion per message and member in the log.
			const logged = await updatesLogged();
			expect(aged.map((id) => (logged[id] ?? 0) - (loggedBefore[id] ?? 0))).toEqual([2, 2]);
			await sql.end();
		}
	});
});
