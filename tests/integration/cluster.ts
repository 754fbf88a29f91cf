/**
 * Several server processes as one deployment, for the tests across instances (multi-instance,
 * nats-bus): the same signed-in browser on another instance, a client that behaves as the real one
 * (an outbox re-sent on every reconnect, a cursor to resume from), and waiting for a server's log.
 */
import { randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import { ApiClient, WsClient, type Person, type TestServer } from './harness';

export function send(conversationId: string, clientId: string, clientSeq: number, body = `message ${clientSeq}`) {
	return { id: randomUUID(), conversationId, clientId, clientSeq, body };
}

/** The same signed-in browser talking to another instance (sessions live in the database). */
export function on(server: TestServer, person: Person): ApiClient {
	const client = new ApiClient(server.origin);
	client.cookie = person.client.cookie;
	return client;
}

/**
 * A client as the real one behaves: an outbox re-sent on every reconnect until acked, a cursor to
 * resume from, and a record of every durable event, to check nothing is lost, doubled or reordered.
 */
export class Chatter {
	ws?: WsClient;
	cursor?: string;
	readonly messages: any[] = [];
	readonly problems: string[] = [];
	private readonly outbox = new Map<string, ReturnType<typeof send>>();
	private readonly clientId = randomUUID();
	private clientSeq = 0;

	constructor(
		readonly person: Person,
		private readonly conversationId: string
	) {}

	async connect(server: TestServer) {
		const ws = await WsClient.connect(server.origin, this.person.client.cookie, { cursor: this.cursor });
		this.ws = ws;
		const seen = (frame: any) => {
			if (frame.type === 'reset') this.problems.push(`reset at ${frame.cursor}`);
			if (frame.type === 'ready') return;
			if (typeof frame.cursor === 'string') {
				if (this.cursor !== undefined && Number(frame.cursor) <= Number(this.cursor)) {
					this.problems.push(`cursor ${frame.cursor} after ${this.cursor}`);
				}
				this.cursor = frame.cursor;
			}
			if (frame.type === 'message') this.messages.push(frame.message);
			if (frame.type === 'ack') this.outbox.delete(frame.id);
		};
		// Frames that arrived before this listener was attached (replay right after connect).
		for (const frame of ws.frames) seen(frame);
		ws.socket.on('message', (data) => seen(JSON.parse(data.toString())));
		for (const pending of [...this.outbox.values()].sort((a, b) => a.clientSeq - b.clientSeq)) {
			ws.send({ type: 'send', ...pending });
		}
	}

	say(body: string) {
		const message = send(this.conversationId, this.clientId, ++this.clientSeq, body);
		this.outbox.set(message.id, message);
		if (this.ws && !this.ws.closed) this.ws.send({ type: 'send', ...message });
		return message;
	}

	get unacked() {
		return this.outbox.size;
	}

	async waitForMessages(count: number) {
		await this.ws!.waitFor(() => this.messages.length >= count, 30_000).catch((error) => {
			throw new Error(`${this.person.user.username} has ${this.messages.length}/${count} messages: ${error.message}`);
		});
	}
}

/** Resolves once the server has written `text` to its stdout or stderr (`times` times). */
export function logged(server: TestServer, text: string, timeoutMs = 15_000, times = 1): Promise<void> {
	return new Promise((resolve, reject) => {
		const check = () => {
			if (server.output().split(text).length - 1 < times) return;
			clearTimeout(timer);
			server.process.stdout!.off('data', check);
			server.process.stderr!.off('data', check);
			resolve();
		};
		const timer = setTimeout(() => reject(new Error(`the server never logged "${text}" ${times} times`)), timeoutMs);
		server.process.stdout!.on('data', check);
		server.process.stderr!.on('data', check);
		check();
	});
}

/**
 * Both chatters' outboxes are acked and each saw exactly the `count` messages stored, in the
 * stored order, with no reset and no cursor out of order; returns the stored messages.
 */
export async function expectConverged(server: TestServer, chatters: [Chatter, Chatter], conversationId: string, count: number) {
	for (const chatter of chatters) await chatter.waitForMessages(count);
	for (const chatter of chatters) await chatter.ws!.waitFor(() => chatter.unacked === 0);
	const history = await on(server, chatters[0].person).get(`/api/conversations/${conversationId}/messages?limit=200`);
	const stored = history.body.messages as any[];
	expect(stored).toHaveLength(count);
	for (const chatter of chatters) {
		expect(chatter.problems).toEqual([]);
		expect(chatter.messages.map((m) => m.id)).toEqual(stored.map((m) => m.id));
	}
	return stored;
}
