/**
 * "Download my data": everything the user can read, as one JSON document written a page of
 * history at a time, so a long history is never in memory at once. Reads go through the chat
 * service, whose membership checks make it exactly what the user could read in the app.
 */
import type { User } from '$lib/types';
import type { ChatService } from './chat/service';

const PAGE = 200;

export function exportFilename(user: User, now: Date): string {
	return `duet-export-${user.username}-${now.toISOString().slice(0, 10)}.json`;
}

/** The document in pieces whose concatenation is `{exportedAt, user, settings, conversations}`. */
export async function* exportDocument(chat: ChatService, user: User, now: Date): AsyncGenerator<string> {
	const settings = await chat.settings(user.id);
	const head = JSON.stringify({ exportedAt: now.toISOString(), user, settings });
	yield `${head.slice(0, -1)},"conversations":[`;
	const conversations = await chat.listConversations(user.id);
	for (const [index, conversation] of conversations.entries()) {
		yield `${index ? ',' : ''}{"id":${JSON.stringify(conversation.id)},"peer":${JSON.stringify(conversation.peer)},"messages":[`;
		let after = 0;
		let first = true;
		for (;;) {
			const page = await chat.history(user.id, conversation.id, { after, limit: PAGE });
			if (page.messages.length) {
				yield `${first ? '' : ','}${page.messages.map((m) => JSON.stringify(m)).join(',')}`;
				first = false;
				after = page.messages.at(-1)!.seq;
			}
			if (!page.hasMore) break;
		}
		yield ']}';
	}
	yield ']}';
}

/** A byte stream that asks for the next piece only when the client has taken the last. */
export function streamOf(pieces: AsyncGenerator<string>): ReadableStream<Uint8Array> {
	const encoder = new TextEncoder();
	return new ReadableStream({
		async pull(controller) {
			const next = await pieces.next();
			if (next.done) controller.close();
			else controller.enqueue(encoder.encode(next.value));
		},
		async cancel() {
			await pieces.return(undefined);
		}
	});
}
