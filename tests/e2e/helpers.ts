/** Shared steps for the chat browser tests: accounts, conversations, and reading the chat view. */
import { expect, type APIRequestContext, type Browser, type BrowserContext, type Page } from '@playwright/test';
import { E2E_ORIGIN } from '../../playwright.config';

export const PASSWORD = 'correct horse battery';

export function username(prefix: string): string {
	return `${prefix}_${Math.random().toString(36).slice(2, 10)}`;
}

export interface Person {
	context: BrowserContext;
	page: Page;
	username: string;
	id: string;
}

/** A new browser context signed in as a freshly registered user (the cookie lands in the context). */
export async function signUp(
	browser: Browser,
	prefix: string,
	options: {
		javaScriptEnabled?: boolean;
		baseURL?: string;
		viewport?: { width: number; height: number };
		serviceWorkers?: 'allow' | 'block';
	} = {}
): Promise<Person> {
	const context = await browser.newContext({ baseURL: E2E_ORIGIN, ...options });
	const name = username(prefix);
	const response = await context.request.post('/api/auth/register', { data: { username: name, password: PASSWORD } });
	expect(response.status()).toBe(201);
	const { user } = (await response.json()) as { user: { id: string } };
	const page = await context.newPage();
	return { context, page, username: name, id: user.id };
}

/** Opens (get-or-create) the conversation between `from` and `peer`, returning its id. */
export async function conversationWith(from: Person, peer: Person): Promise<string> {
	const response = await from.context.request.post('/api/conversations', { data: { username: peer.username } });
	expect(response.ok()).toBe(true);
	return ((await response.json()) as { conversation: { id: string } }).conversation.id;
}

/**
 * Many messages fast: `clients` senders in parallel, each posting its own clientSeq run in order
 * (the server orders per client), so no send waits on the sequence buffer's gap timeout.
 */
export async function seed(request: APIRequestContext, conversationId: string, bodies: string[], clients = 32) {
	const per = Math.ceil(bodies.length / clients);
	await Promise.all(
		Array.from({ length: clients }, async (_, c) => {
			const clientId = crypto.randomUUID();
			const mine = bodies.slice(c * per, (c + 1) * per);
			for (const [i, body] of mine.entries()) {
				const response = await request.post('/api/messages', {
					data: { id: crypto.randomUUID(), conversationId, clientId, clientSeq: i + 1, body }
				});
				expect(response.ok()).toBe(true);
			}
		})
	);
}

export function bodies(page: Page) {
	return page.getByTestId('messages').getByTestId('message-body');
}

export function messageWith(page: Page, text: string) {
	return page.getByTestId('messages').getByTestId('message').filter({ hasText: text });
}

/** Waits until the tab's client is live (or, for a follower tab, hears that the leader is). */
export async function waitLive(page: Page) {
	await expect(page.getByTestId('connection')).toHaveAttribute('data-state', 'live');
}

/**
 * Waits until the tab's client has started (hydrated, whatever its connection): before that the
 * composer is a plain form, where Enter only adds a line. For pages that cannot go live.
 */
export async function waitStarted(page: Page) {
	await expect(page.getByTestId('connection')).not.toHaveAttribute('data-state', 'none');
}

export async function send(page: Page, text: string) {
	const box = page.getByLabel('Message', { exact: true });
	await box.fill(text);
	await box.press('Enter');
	await expect(box).toHaveValue('');
}

/** Bodies the server holds for a conversation, in seq order, as `who` sees them. */
export async function serverBodies(who: Person, conversationId: string): Promise<string[]> {
	const response = await who.context.request.get(`/api/conversations/${conversationId}/messages?limit=200`);
	expect(response.ok()).toBe(true);
	const { messages } = (await response.json()) as { messages: { body: string; seq: number }[] };
	messages.forEach((m, i) => expect(m.seq).toBe(i + 1));
	return messages.map((m) => m.body);
}

export interface LocalRow {
	body: string;
	/** As the chat shows it for one's own messages (sending, sent, delivered, read, failed); null for the peer's. */
	status: string | null;
}

/**
 * One conversation as the page's local database holds it, in the order the chat lists it
 * (confirmed by seq, then unconfirmed ones by clientSeq), every row of it. The chat's message
 * list is virtualised and renders only the rows near the view, so reading the DOM would tie a
 * test to the window's size, the rows' heights and the scroll position; this reads what the UI
 * renders from instead. Statuses are derived as the chat page does (its statusOf).
 */
export function localMessages(page: Page, who: { id: string }, conversationId: string): Promise<LocalRow[]> {
	return page.evaluate(
		({ name, conversationId, userId }) =>
			new Promise<LocalRow[]>((resolve, reject) => {
				const open = indexedDB.open(name);
				open.onerror = () => reject(open.error);
				open.onsuccess = () => {
					const db = open.result;
					const tx = db.transaction(['messages', 'conversations'], 'readonly');
					const messages = tx.objectStore('messages').index('conversationId').getAll(conversationId);
					const conversation = tx.objectStore('conversations').get(conversationId);
					tx.onerror = () => reject(tx.error);
					tx.oncomplete = () => {
						db.close();
						type Row = { body: string; senderId: string; seq?: number; clientSeq: number; status: string };
						const conv = (conversation.result ?? {}) as { peerReadSeq?: number; peerDeliveredSeq?: number };
						const rows = (messages.result as Row[]).sort((a, b) =>
							a.seq !== undefined && b.seq !== undefined
								? a.seq - b.seq
								: a.seq !== undefined
									? -1
									: b.seq !== undefined
										? 1
										: a.clientSeq - b.clientSeq
						);
						const status = (m: Row) => {
							if (m.senderId !== userId) return null;
							if (m.status !== 'sent') return m.status;
							if (m.seq === undefined) return 'sending';
							if ((conv.peerReadSeq ?? 0) >= m.seq) return 'read';
							if ((conv.peerDeliveredSeq ?? 0) >= m.seq) return 'delivered';
							return 'sent';
						};
						resolve(rows.map((m) => ({ body: m.body, status: status(m) })));
					};
				};
			}),
		{ name: `duet-${who.id}`, conversationId, userId: who.id }
	);
}

export async function localBodies(page: Page, who: { id: string }, conversationId: string): Promise<string[]> {
	return (await localMessages(page, who, conversationId)).map((m) => m.body);
}

/** The statuses of one's own messages, from the local database (see localMessages). */
export async function localStatuses(page: Page, who: { id: string }, conversationId: string): Promise<(string | null)[]> {
	return (await localMessages(page, who, conversationId)).filter((m) => m.status !== null).map((m) => m.status);
}
