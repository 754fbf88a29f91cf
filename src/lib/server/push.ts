/**
 * Web Push (VAPID): a new message reaches a recipient who has no open connection anywhere as a
 * push to each of their browsers. Hooked onto the notes published on this instance (the bus's
 * onPublished), which happens once per commit on the instance that committed, so a message is
 * pushed once however many instances there are.
 * The payload carries the conversation id and, only for subscriptions that opted in, the sender
 * and the text. Endpoints the push service says are gone (404/410) are deleted. A conversation
 * the recipient muted pushes nothing.
 */
import { and, eq } from 'drizzle-orm';
import webpush from 'web-push';
import type { Db } from './db';
import { pushKeys, pushSubscriptions, users } from './db/schema';
import { isMuted } from './chat/blocks';
import type { EventBus, Note } from './bus';
import type { PushPayload } from '$lib/pwa-protocol';
import { log } from './log';

export interface VapidKeys {
	publicKey: string;
	privateKey: string;
}

export interface PushOptions {
	subject: string;
}

/** The configured VAPID keys (VAPID_PUBLIC_KEY/VAPID_PRIVATE_KEY), else the ones stored in the database (made on first start). */
export async function loadVapidKeys(db: Db, configured?: VapidKeys): Promise<VapidKeys> {
	if (configured) return configured;
	const generated = webpush.generateVAPIDKeys();
	// Instances starting together race here; the first insert wins and everyone reads it back.
	await db
		.insert(pushKeys)
		.values({ id: 1, ...generated })
		.onConflictDoNothing();
	const [row] = await db.select().from(pushKeys).where(eq(pushKeys.id, 1));
	return { publicKey: row.publicKey, privateKey: row.privateKey };
}

export class PushService {
	private readonly pending = new Set<Promise<void>>();

	constructor(
		private readonly db: Db,
		bus: EventBus,
		readonly keys: VapidKeys,
		private readonly options: PushOptions,
		/** Whether the user has an open WebSocket/SSE connection here or on another instance (the chat's presence). */
		private readonly connected: (userId: string) => boolean
	) {
		bus.onPublished((notes) => this.onNotes(notes));
	}

	validEndpoint(endpoint: string): boolean {
		try {
			const url = new URL(endpoint);
			// Push services are https; web-push speaks nothing else.
			return url.protocol === 'https:';
		} catch {
			return false;
		}
	}

	async subscribe(userId: string, input: { endpoint: string; p256dh: string; auth: string; previews: boolean }): Promise<void> {
		// An endpoint belongs to one browser: re-subscribing after another sign-in moves it.
		await this.db
			.insert(pushSubscriptions)
			.values({ userId, ...input })
			.onConflictDoUpdate({
				target: pushSubscriptions.endpoint,
				set: { userId, p256dh: input.p256dh, auth: input.auth, previews: input.previews }
			});
	}

	async unsubscribe(userId: string, endpoint: string): Promise<void> {
		await this.db.delete(pushSubscriptions).where(and(eq(pushSubscriptions.userId, userId), eq(pushSubscriptions.endpoint, endpoint)));
	}

	/** Waits for pushes in flight (tests, shutdown). */
	async settle(): Promise<void> {
		await Promise.allSettled([...this.pending]);
	}

	private onNotes(notes: Note[]): void {
		for (const note of notes) {
			if (note.kind !== 'event' || note.event?.type !== 'message') continue;
			const { message } = note.event;
			if (message.senderId === note.userId || this.connected(note.userId)) continue;
			const task = this.pushMessage(note.userId, message.conversationId, message.senderId, message.body).catch((error) =>
				log.error({ err: error }, 'Push failed')
			);
			this.pending.add(task);
			void task.finally(() => this.pending.delete(task));
		}
	}

	private async pushMessage(userId: string, conversationId: string, senderId: string, body: string): Promise<void> {
		if (await isMuted(this.db, userId, conversationId)) return;
		const subscriptions = await this.db.select().from(pushSubscriptions).where(eq(pushSubscriptions.userId, userId));
		if (subscriptions.length === 0) return;
		let from: string | undefined;
		if (subscriptions.some((s) => s.previews)) {
			[{ username: from } = { username: undefined }] = await this.db
				.select({ username: users.username })
				.from(users)
				.where(eq(users.id, senderId));
		}
		await Promise.all(
			subscriptions.map(async (s) => {
				const payload: PushPayload = s.previews ? { type: 'message', conversationId, from, body } : { type: 'message', conversationId };
				try {
					await webpush.sendNotification({ endpoint: s.endpoint, keys: { p256dh: s.p256dh, auth: s.auth } }, JSON.stringify(payload), {
						vapidDetails: { subject: this.options.subject, ...this.keys },
						TTL: 24 * 60 * 60,
						urgency: 'high'
					});
				} catch (error) {
					const status = (error as { statusCode?: number }).statusCode;
					if (status === 404 || status === 410) {
						await this.db.delete(pushSubscriptions).where(eq(pushSubscriptions.endpoint, s.endpoint));
					} else {
						throw error;
					}
				}
			})
		);
	}
}
