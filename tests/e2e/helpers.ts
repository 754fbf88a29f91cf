/** Shared steps for the chat browser tests: accounts, conversations, and reading the chat view. */
import { expect, type Browser, type BrowserContext, type Page } from '@playwright/test';
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
	options: { javaScriptEnabled?: boolean; baseURL?: string; viewport?: { width: number; height: number } } = {}
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
