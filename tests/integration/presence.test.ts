import { afterAll, beforeAll, expect, test } from 'vitest';
import { describeEngines, signedInClient, SseClient, startServer, WsClient, type TestServer, type Transport } from './harness';

/** A push connection over either transport, seen as the events it carried. */
async function listen(origin: string, cookie: string | undefined, transport: Transport) {
	if (transport === 'ws') {
		const ws = await WsClient.connect(origin, cookie);
		return { waitFor: (predicate: (event: any) => boolean) => ws.waitFor(predicate), close: () => ws.close() };
	}
	const sse = await SseClient.connect(origin, cookie);
	return {
		waitFor: async (predicate: (event: any) => boolean) =>
			(await sse.waitFor((e) => predicate({ type: e.event, ...e.data }))).data as Record<string, unknown>,
		close: () => sse.close()
	};
}

describeEngines('presence of a new conversation', (engine) => {
	let server: TestServer;
	beforeAll(async () => {
		server = await startServer({ engine });
	});
	afterAll(async () => {
		await server?.stop();
	});

	for (const transport of ['ws', 'sse'] as const) {
		test(`both members, connected before it existed, learn the other's presence over ${transport}`, async () => {
			const alice = await signedInClient(server.origin);
			const bob = await signedInClient(server.origin);
			const aliceStream = await listen(server.origin, alice.client.cookie, transport);
			const bobStream = await listen(server.origin, bob.client.cookie, transport);
			const opened = await alice.client.post('/api/conversations', { username: bob.user.username });
			expect(opened.status).toBe(200);
			expect(await aliceStream.waitFor((e) => e.type === 'presence' && e.userId === bob.user.id)).toMatchObject({ online: true });
			expect(await bobStream.waitFor((e) => e.type === 'presence' && e.userId === alice.user.id)).toMatchObject({ online: true });
			aliceStream.close();
			bobStream.close();
		});

		test(`a member who is away is told as last seen over ${transport}`, async () => {
			const alice = await signedInClient(server.origin);
			const bob = await signedInClient(server.origin);
			// Carol, Bob's peer already, hears when the server has seen Bob go.
			const carol = await signedInClient(server.origin);
			expect((await carol.client.post('/api/conversations', { username: bob.user.username })).status).toBe(200);
			const carolWs = await WsClient.connect(server.origin, carol.client.cookie);
			const bobWs = await WsClient.connect(server.origin, bob.client.cookie);
			bobWs.close();
			const gone = await carolWs.waitFor((f) => f.type === 'presence' && f.userId === bob.user.id && !f.online && f.lastSeenAt);
			const aliceStream = await listen(server.origin, alice.client.cookie, transport);
			expect((await alice.client.post('/api/conversations', { username: bob.user.username })).status).toBe(200);
			const presence = await aliceStream.waitFor((e) => e.type === 'presence' && e.userId === bob.user.id);
			expect(presence).toEqual({ type: 'presence', userId: bob.user.id, online: false, lastSeenAt: gone.lastSeenAt });
			expect(Date.parse(String(presence.lastSeenAt))).not.toBeNaN();
			carolWs.close();
			aliceStream.close();
		});
	}
});
