/**
 * The browser client of one signed-in user in one tab: opens that user's database, takes part in
 * the leader election, and — while leader — runs the transport, the sync engine and the outbox.
 * Every tab, leader or not, writes sends and drafts straight to Dexie; what needs the network
 * (sends, typing, receipts) reaches the leader over the tab channel. Reactive state for the UI
 * (connection, leadership, and who is typing through `peerTyping`) lives here as runes.
 */
import { liveQuery } from 'dexie';
import { AppError } from '$lib/errors';
import type { MessageChange, MessageContentInput, ReceiptInput } from '$lib/schemas';
import type { Conversation, EphemeralEvent, Message, User } from '$lib/types';
import { createApi, type Api } from './api';
import { ChangeRefused, ChangeScheduler, dismissChange, queueChange } from './changes';
import { openTabChannel, type TabChannel, type TabMessage } from './channel';
import { deleteUserDb, META, openUserDb, setMeta, type DuetDb } from './db';
import { electLeader } from './leader';
import { forgetUser } from './offline';
import { deleteUnsent, enqueueMessage, OutboxScheduler, retryMessage } from './outbox';
import { PeerTyping } from './peer-typing.svelte';
import { presenceLost } from './presence';
import { ReceiptQueue } from './receipts';
import { seedConversations } from './seed';
import { ACCOUNT_DELETED, SIGNED_OUT_ELSEWHERE } from './signed-out';
import { countUnsent, endServerSession, whenDelivered, type SignOutResult, type Unsent } from './signout';
import { SyncEngine } from './sync';
import type { ConnectionState, TransportKind } from './transport';
import { SelectingTransport } from './transport-select';
import { UploadProgress } from './upload-progress.svelte';
import { uploadFile } from './upload-http';
import { UploadScheduler } from './upload-scheduler';
import { cancelUpload, enqueueWithFiles, type ChosenFile } from './uploads';

/** How long after a tab here began signing out the session's end is taken for that sign-out. */
const SIGNING_OUT_MS = 30_000;

interface LeaderParts {
	transport: SelectingTransport;
	sync: SyncEngine;
	receipts: ReceiptQueue;
	scheduler: OutboxScheduler;
	changes: ChangeScheduler;
	uploads: UploadScheduler;
}

export class DuetClient {
	connection = $state<ConnectionState>('connecting');
	isLeader = $state(false);
	/** What carries the leader's stream: WebSocket or the SSE + POST fallback. */
	transport = $state<TransportKind | null>(null);
	readonly peerTyping = new PeerTyping();
	readonly uploadProgress = new UploadProgress();

	readonly db: DuetDb;
	readonly api: Api;
	private readonly channel: TabChannel;
	private readonly resign: () => void;
	private parts: LeaderParts | null = null;
	/** Sync engine for HTTP-only work (history) in any tab; the leader's own one when leading. */
	private readonly reader: SyncEngine;
	private stopped = false;
	private forgetting: Promise<void> | null = null;
	/**
	 * When a tab of this browser last began signing out. The server then ends the session and closes
	 * the leader's connection, which must not read as "signed out from another device".
	 */
	private signingOutSince = -Infinity;
	/** Where this tab lands when the server ends its session at its own request. */
	private signOutTo = '/login';
	private lastSessionCheck = 0;
	/** Settles once this tab's latest send is in the outbox: typing waits for it (see typingIn). */
	private lastSend: Promise<void> = Promise.resolve();

	constructor(readonly user: User) {
		this.db = openUserDb(user.id);
		void setMeta(this.db, META.userId, user.id).catch(() => {});
		this.api = createApi();
		this.channel = openTabChannel(user.id);
		this.channel.on((message) => this.onTabMessage(message));
		this.reader = new SyncEngine(this.db, this.api, user, {
			delivered: (conversationId, seq) => this.receipt({ conversationId, seq, status: 'delivered' }),
			ephemeral: () => {},
			ack: async () => {},
			sendError: async () => {},
			changed: async () => {},
			ready: () => {}
		});
		this.resign = electLeader(`duet:leader:${user.id}`, () => this.lead());
		this.channel.post({ type: 'hello' });
	}

	// ---- actions any tab can take -------------------------------------------------------------

	/** Throws FilesRefused when `files` break the limits (nothing is stored then). */
	async send(conversationId: string, content: MessageContentInput, files: readonly ChosenFile[] = []): Promise<void> {
		const input = { ...content, conversationId, senderId: this.user.id };
		const written = files.length > 0 ? enqueueWithFiles(this.db, input, files) : enqueueMessage(this.db, input);
		this.lastSend = written.then(
			() => {},
			() => {}
		);
		await written;
		this.kickOutbox();
	}

	/** Takes one file off an unsent message (the message goes too when nothing else is left of it). */
	async cancelUpload(id: string): Promise<void> {
		// The row goes first, so the scheduler's next pass cannot start the file again.
		await cancelUpload(this.db, id);
		await this.parts?.uploads.cancel(id);
		this.kickOutbox();
	}

	/**
	 * Edits, deletes for everyone, or reacts to a message: shown at once, delivered by the leader.
	 * Throws ChangeRefused (with a sentence for the user) when the change cannot be made at all.
	 */
	async change(change: MessageChange): Promise<void> {
		const message = await this.db.messages.get(change.messageId);
		if (!message) throw new ChangeRefused('This message is not on this device any more.');
		await queueChange(this.db, this.user.id, message, change);
		this.kickOutbox();
	}

	/** Why a change failed has been read: it goes (it was never applied). */
	dismissChange(id: string): Promise<void> {
		return dismissChange(this.db, id);
	}

	/** A message that is not stored here (the original of an old reply), from the server. */
	async fetchMessage(id: string): Promise<Message | null> {
		try {
			return (await this.api.message(id)).message;
		} catch (error) {
			if (error instanceof AppError && error.code === 'not_found') return null;
			throw error;
		}
	}

	async retry(id: string): Promise<void> {
		await retryMessage(this.db, id);
		this.kickOutbox();
	}

	remove(id: string): Promise<void> {
		return deleteUnsent(this.db, id);
	}

	/** Tells the peer we are typing (or, `typing` false, that we cleared the text), after any send made before. */
	typingIn(conversationId: string, typing = true): void {
		void this.lastSend.then(() => {
			if (this.parts) this.sendTyping(conversationId, typing);
			else this.channel.post({ type: 'typing', conversationId, typing });
		});
	}

	private sendTyping(conversationId: string, typing: boolean): void {
		const parts = this.parts;
		if (!parts) return;
		// The outbox goes first: typing that overtook the message sent before it would be ended by that message.
		void parts.scheduler.run().then(() => parts.transport.send({ type: typing ? 'typing' : 'typing_stopped', conversationId }));
	}

	/** The user has seen everything up to `seq`: show it at once, tell the server via the leader. */
	async markRead(conversationId: string, seq: number): Promise<void> {
		const conv = await this.db.conversations.get(conversationId);
		if (!conv || conv.myReadSeq >= seq) return;
		await this.db.conversations.update(conversationId, { myReadSeq: seq, unreadCount: 0 });
		this.receipt({ conversationId, seq, status: 'read' });
	}

	/** The user's own mute of a conversation; shown here at once, on their other devices by its event. */
	async setMuted(conversationId: string, muted: boolean): Promise<void> {
		const { conversation } = await this.api.muteConversation(conversationId, muted);
		await this.db.conversations.update(conversation.id, { muted: conversation.muted, blocked: conversation.blocked });
	}

	/** Blocks or unblocks the peer of a conversation; throws the server's AppError when it refuses. */
	async setBlocked(conversationId: string, peer: User, blocked: boolean): Promise<void> {
		if (blocked) await this.api.block(peer.username);
		else await this.api.unblock(peer.id);
		await this.db.conversations.update(conversationId, { blocked });
	}

	/** Stores what the server rendered, so the local view starts where the page did. */
	async seed(conversation: Conversation, messages: Message[]): Promise<void> {
		await seedConversations(this.db, [conversation]);
		await this.reader.storeMessages(messages);
	}

	ensureRecent(conversationId: string): Promise<void> {
		return this.reader.ensureRecent(conversationId);
	}

	loadOlder(conversationId: string, beforeSeq: number, limit?: number): Promise<boolean> {
		return this.reader.loadOlder(conversationId, beforeSeq, limit);
	}

	/** Messages written here that the server has not acked yet (signing out would discard them). */
	unsent(): Promise<Unsent> {
		return countUnsent(this.db);
	}

	/** Resolves when the outbox holds nothing deliverable any more; see signout.ts. */
	whenDelivered(signal?: AbortSignal): Promise<Unsent> {
		this.kickOutbox();
		return whenDelivered(this.db, signal);
	}

	/**
	 * Ends the session on the server, then signs out every tab of this user and deletes the local
	 * database. When the server cannot be reached nothing changes here: the session would stay
	 * valid, so pretending to be signed out would be a lie (and a security hole on shared machines).
	 */
	/** `everywhere`: every session of the account ends, on every device, this one too. */
	async signOut(everywhere = false): Promise<SignOutResult> {
		this.signingOutSince = Date.now();
		this.channel.post({ type: 'signing-out' });
		const result = await endServerSession(() => (everywhere ? this.api.logoutEverywhere() : this.api.logout()));
		if (result.ok) await this.forget();
		return result;
	}

	/**
	 * Deletes the account (DELETE /api/me), then forgets it here as a sign-out does. The server
	 * closes this tab's connection meanwhile: that is this tab's own doing, not "elsewhere".
	 */
	async deleteAccount(password: string): Promise<void> {
		this.signingOutSince = Date.now();
		this.signOutTo = ACCOUNT_DELETED;
		this.channel.post({ type: 'signing-out' });
		try {
			await this.api.deleteAccount(password);
		} catch (error) {
			this.signingOutSince = -Infinity;
			this.signOutTo = '/login';
			throw error;
		}
		await this.forget();
		location.assign(ACCOUNT_DELETED);
	}

	stop(): void {
		if (this.stopped) return;
		this.stopped = true;
		this.resign();
		this.channel.close();
		this.peerTyping.dispose();
		this.db.close();
		if (current === this) current = null;
	}

	/** The local half of signing out, once the server session is gone; safe to call twice. */
	private forget(elsewhere = false): Promise<void> {
		this.forgetting ??= (async () => {
			this.channel.post({ type: 'signout', elsewhere });
			// No offline start into a signed-out account.
			forgetUser();
			this.stop();
			await deleteUserDb(this.user.id).catch((error) => console.error('Could not delete local data', error));
		})();
		return this.forgetting;
	}

	// ---- leadership ---------------------------------------------------------------------------

	private lead(): () => void {
		const transport = new SelectingTransport();
		const receipts = new ReceiptQueue();
		let wakeTimer: ReturnType<typeof setTimeout> | undefined;
		let changeTimer: ReturnType<typeof setTimeout> | undefined;
		let uploadTimer: ReturnType<typeof setTimeout> | undefined;
		const scheduler: OutboxScheduler = new OutboxScheduler({
			db: this.db,
			send: (frame) => transport.send({ type: 'send', ...frame }),
			wakeAt: (at) => {
				clearTimeout(wakeTimer);
				if (at !== null) wakeTimer = setTimeout(() => void scheduler.run(), Math.max(0, at - Date.now()));
			}
		});
		const changes: ChangeScheduler = new ChangeScheduler(this.db, {
			send: (frame) => transport.send(frame),
			wakeAt: (at) => {
				clearTimeout(changeTimer);
				if (at !== null) changeTimer = setTimeout(() => void changes.run(), Math.max(0, at - Date.now()));
			}
		});
		const uploads: UploadScheduler = new UploadScheduler({
			db: this.db,
			upload: uploadFile,
			online: () => navigator.onLine,
			wakeAt: (at) => {
				clearTimeout(uploadTimer);
				if (at !== null) uploadTimer = setTimeout(() => void uploads.run(), Math.max(0, at - Date.now()));
			},
			progress: (id, fraction) => {
				this.uploadProgress.set(id, fraction);
				this.channel.post({ type: 'upload-progress', id, fraction });
			},
			// Its message may be complete now.
			onStored: () => void scheduler.run()
		});
		// Uploads are plain HTTP: they follow the browser's network, not the push connection.
		const onNetwork = () => void uploads.setConnected(navigator.onLine);
		addEventListener('online', onNetwork);
		addEventListener('offline', onNetwork);
		onNetwork();
		const flushReceipts = () => receipts.flush((r) => transport.send({ type: 'receipt', ...r }));
		const sync = new SyncEngine(this.db, this.api, this.user, {
			delivered: (conversationId, seq) => {
				this.peerTyping.stopped(conversationId);
				this.channel.post({ type: 'ephemeral', event: { type: 'typing', conversationId, userId: '' } });
				receipts.add({ conversationId, seq, status: 'delivered' });
				flushReceipts();
			},
			ephemeral: (event) => {
				this.onEphemeral(event);
				this.channel.post({ type: 'ephemeral', event });
			},
			ack: async (ack) => {
				await scheduler.onAck(ack);
				// Changes made while it was being sent were waiting for this.
				void changes.run();
			},
			// Each scheduler ignores ids it has not sent.
			sendError: async (id, code, message, retryAfter) => {
				await scheduler.onError(id, code, message, retryAfter);
				await changes.onError(id, code, message, retryAfter);
			},
			changed: (id, message) => changes.onChanged(id, message),
			ready: () => {
				void scheduler.setConnected(true);
				void changes.setConnected(true);
				flushReceipts();
			}
		});
		this.parts = { transport, sync, receipts, scheduler, changes, uploads };
		this.isLeader = true;

		const offs = [
			transport.on('frame', (frame) => void sync.handle(frame)),
			transport.on('state', (state) => {
				// A stored "online" may also be a closed tab's: the chat header shows it only while live.
				if (this.connection === 'live' && state !== 'live') void presenceLost(this.db, Date.now()).catch(() => {});
				this.connection = state;
				this.channel.post({ type: 'connection', state, transport: transport.kind });
				if (state !== 'live') {
					void scheduler.setConnected(false);
					void changes.setConnected(false);
				}
			}),
			transport.on('kind', (kind) => {
				this.transport = kind;
				this.channel.post({ type: 'connection', state: this.connection, transport: kind });
			}),
			transport.on('refused', () => void this.checkSession()),
			transport.on('ended', () => void this.signOutHere())
		];
		// Sends written by any tab (or left over from before a reload) wake the scheduler.
		const outbox = liveQuery(() => this.db.outbox.where('state').equals('queued').primaryKeys()).subscribe({
			next: () => void scheduler.run(),
			error: (error) => console.error(error)
		});
		const changeQueue = liveQuery(() => this.db.changes.where('state').equals('queued').primaryKeys()).subscribe({
			next: () => void changes.run(),
			error: (error) => console.error(error)
		});
		// Files chosen in any tab (or left over from before a reload), and files cancelled in another tab.
		const uploadQueue = liveQuery(() => this.db.uploads.toCollection().primaryKeys()).subscribe({
			next: (ids) => {
				void uploads.keepOnly(ids).then(() => uploads.run());
				void scheduler.run();
			},
			error: (error) => console.error(error)
		});
		transport.connect(() => sync.cursor());
		this.connection = transport.state;
		this.transport = transport.kind;
		this.channel.post({ type: 'connection', state: transport.state, transport: transport.kind });

		return () => {
			offs.forEach((off) => off());
			outbox.unsubscribe();
			changeQueue.unsubscribe();
			uploadQueue.unsubscribe();
			removeEventListener('online', onNetwork);
			removeEventListener('offline', onNetwork);
			void uploads.setConnected(false);
			uploads.abortAll();
			clearTimeout(wakeTimer);
			clearTimeout(changeTimer);
			clearTimeout(uploadTimer);
			transport.close();
			this.parts = null;
			this.isLeader = false;
		};
	}

	private kickOutbox(): void {
		if (this.parts) {
			void this.parts.scheduler.run();
			void this.parts.changes.run();
			void this.parts.uploads.run();
		} else this.channel.post({ type: 'outbox' });
	}

	private receipt(receipt: ReceiptInput): void {
		if (this.parts) {
			this.parts.receipts.add(receipt);
			this.parts.receipts.flush((r) => this.parts?.transport.send({ type: 'receipt', ...r }) ?? false);
		} else {
			this.channel.post({ type: 'receipt', receipt });
		}
	}

	private onTabMessage(message: TabMessage): void {
		switch (message.type) {
			case 'outbox':
				this.kickOutbox();
				return;
			case 'typing':
				this.sendTyping(message.conversationId, message.typing);
				return;
			case 'receipt':
				if (this.parts) this.receipt(message.receipt);
				return;
			case 'ephemeral':
				this.onEphemeral(message.event);
				return;
			case 'connection':
				if (!this.parts) {
					this.connection = message.state;
					this.transport = message.transport ?? null;
				}
				return;
			case 'upload-progress':
				if (!this.parts) this.uploadProgress.set(message.id, message.fraction);
				return;
			case 'hello':
				if (this.parts) this.channel.post({ type: 'connection', state: this.connection, transport: this.transport ?? undefined });
				return;
			case 'signing-out':
				this.signingOutSince = Date.now();
				return;
			case 'signout':
				this.stop();
				location.assign(message.elsewhere ? SIGNED_OUT_ELSEWHERE : '/login');
				return;
		}
	}

	private onEphemeral(event: EphemeralEvent): void {
		if (event.type === 'presence' || event.userId === this.user.id) return;
		// An empty userId is the leader saying "a message arrived, the typing is over".
		if (event.type === 'typing_stopped' || event.userId === '') this.peerTyping.stopped(event.conversationId);
		else this.peerTyping.started(event.conversationId);
	}

	/** The server ended this session (signed out on another device, or everywhere). */
	private async signOutHere(): Promise<void> {
		const elsewhere = Date.now() - this.signingOutSince > SIGNING_OUT_MS;
		await this.forget(elsewhere);
		location.assign(elsewhere ? SIGNED_OUT_ELSEWHERE : this.signOutTo);
	}

	/** A connection refused before `ready` may mean the session ended elsewhere; if so, sign out here too. */
	private async checkSession(): Promise<void> {
		if (Date.now() - this.lastSessionCheck < 30_000) return;
		this.lastSessionCheck = Date.now();
		try {
			await this.api.me();
		} catch (error) {
			if (error instanceof AppError && error.code === 'unauthorized') await this.signOutHere();
		}
	}
}

let current: DuetClient | null = null;

/** The tab's client for `user`, created on first use; a different user replaces it. */
export function getClient(user: User): DuetClient {
	if (current && current.user.id !== user.id) current.stop();
	if (!current || current.user.id !== user.id) current = new DuetClient(user);
	return current;
}

export function currentClient(): DuetClient | null {
	return current;
}
