/**
 * Where the chat view sits when it opens: at the very bottom for a conversation (however late
 * its rows are measured), at the message for a search result, and what the jump button says.
 */
import { expect, test, type Page } from '@playwright/test';
import { conversationWith, localBodies, seed, signUp, waitLive, type Person } from './helpers';

async function closeAll(...people: Person[]) {
	for (const p of people) await p.context.close();
}

/** One message, sent as `who` from `clientId` (its clientSeq run is `clientSeq`); its id. */
async function post(who: Person, conversationId: string, clientId: string, clientSeq: number, body: string, replyTo: string | null) {
	const id = crypto.randomUUID();
	const response = await who.context.request.post('/api/messages', { data: { id, conversationId, clientId, clientSeq, body, replyTo } });
	expect(response.ok()).toBe(true);
	return id;
}

/** Rows of many heights: one-liners, paragraphs, several lines, reply quotes and reactions. */
function bodyOf(n: number): string {
	if (n % 5 === 0) return `Message ${n}, a longer one: ${'the quick brown fox jumps over the lazy dog '.repeat(6).trim()}`;
	if (n % 4 === 0) return `Message ${n}\nwith\nseveral\nlines`;
	return `Message ${n}`;
}

const COUNT = 60;
const NEWEST = 'The newest message\nfrom Bob\non three lines';

/** A conversation of COUNT varied messages; the newest is Bob's, multi-line, a reply, reacted to. */
async function variedConversation(alice: Person, bob: Person, conversationId: string): Promise<string> {
	const clients = new Map([
		[alice, { id: crypto.randomUUID(), seq: 0 }],
		[bob, { id: crypto.randomUUID(), seq: 0 }]
	]);
	const ids: string[] = [];
	for (let n = 1; n <= COUNT; n++) {
		const who = n % 3 === 0 || n === COUNT ? bob : alice;
		const client = clients.get(who)!;
		const replyTo = n % 10 === 0 ? ids[n - 6] : null;
		const body = n === COUNT ? NEWEST : bodyOf(n);
		ids.push(await post(who, conversationId, client.id, ++client.seq, body, replyTo));
	}
	for (const [i, id] of ids.entries()) {
		if ((i + 1) % 7 !== 0 && i + 1 !== COUNT) continue;
		const response = await alice.context.request.put(`/api/messages/${id}/reactions/${encodeURIComponent('👍')}`);
		expect(response.ok()).toBe(true);
	}
	return ids[COUNT - 1];
}

/**
 * The view has had its chance to go wrong: the client is live, the local database holds the
 * history (it replaces the server's rows), fonts are in and two more frames were laid out.
 */
async function settled(page: Page, who: Person, conversationId: string) {
	await waitLive(page);
	await expect.poll(async () => (await localBodies(page, who, conversationId)).at(-1)).toBe(NEWEST);
	await page.evaluate(async () => {
		await document.fonts.ready;
		for (let i = 0; i < 2; i++) await new Promise((r) => requestAnimationFrame(r));
	});
}

for (const viewport of [
	{ width: 390, height: 844 },
	{ width: 1280, height: 800 }
]) {
	test(`a conversation opens at the bottom, the newest message whole (${viewport.width}×${viewport.height})`, async ({ browser }) => {
		test.setTimeout(120_000);
		const alice = await signUp(browser, 'alice', { viewport });
		const bob = await signUp(browser, 'bob');
		const id = await conversationWith(alice, bob);
		const lastId = await variedConversation(alice, bob, id);
		const page = alice.page;
		const newest = page.locator(`[data-testid="message"][data-id="${lastId}"]`);
		const conversation = page.getByTestId('conversation-list').getByRole('link', { name: new RegExp(bob.username) });

		const atBottom = async (how: string) => {
			await settled(page, alice, id);
			await expect(newest, how).toBeInViewport({ ratio: 1 });
			await expect(page.getByTestId('jump-latest'), how).toBeHidden();
		};

		await page.goto(`/c/${id}`);
		await atBottom('opened by address');
		// Each open is a fresh chance for the race; a 1-in-4 failure shows over these.
		for (let round = 1; round <= 3; round++) {
			await page.reload();
			await atBottom(`reloaded (${round})`);
			await page.goto('/');
			await conversation.click();
			await expect(page).toHaveURL(new RegExp(`/c/${id}$`));
			await atBottom(`opened from the list (${round})`);
			await page.goBack();
			await expect(conversation).toBeVisible();
			await page.goForward();
			await expect(page).toHaveURL(new RegExp(`/c/${id}$`));
			await atBottom(`came back (${round})`);
		}
		// A draft of several lines grows the composer and so shortens the view above it.
		const box = page.getByLabel('Message', { exact: true });
		const before = await page.getByTestId('messages-scroller').evaluate((el) => el.clientHeight);
		await box.fill('a draft\nof\nfive\nlines\nhere');
		await expect.poll(() => page.getByTestId('messages-scroller').evaluate((el) => el.clientHeight)).toBeLessThan(before);
		await expect(newest, 'after the composer grew').toBeInViewport({ ratio: 1 });
		await expect(page.getByTestId('jump-latest')).toBeHidden();
		await closeAll(alice, bob);
	});
}

test('a search result counts no "new messages"; one that arrives after is counted', async ({ browser }) => {
	const alice = await signUp(browser, 'alice');
	const bob = await signUp(browser, 'bob');
	const id = await conversationWith(alice, bob);
	const TOTAL = 400;
	const bodies = Array.from({ length: TOTAL }, (_, i) =>
		i + 1 === 37 ? 'The zebracorn meeting moved to Thursday' : `filler message ${i + 1}`
	);
	await seed(alice.context.request, id, bodies, 1);

	const page = bob.page;
	await page.goto('/');
	await waitLive(page);
	await page.getByRole('link', { name: 'Search messages' }).click();
	const box = page.getByRole('searchbox', { name: 'Search messages' });
	await box.fill('zebracorn');
	await box.press('Enter');
	await page.getByTestId('search-result').click();
	await expect(page).toHaveURL(new RegExp(`/c/${id}\\?at=37$`));
	await expect(page.locator('[data-testid="message"][data-seq="37"]')).toHaveAttribute('data-highlight', 'true');
	// The local rows from #37 down to the newest have replaced the server's page around #37.
	const list = page.getByTestId('messages');
	await expect.poll(async () => Number(await list.getAttribute('data-count'))).toBeGreaterThanOrEqual(TOTAL - 37 + 1);
	await expect(page.locator('[data-testid="message"][data-seq="37"]')).toBeInViewport();
	const jump = page.getByTestId('jump-latest');
	await expect(jump).toHaveText('Jump to latest ↓');

	await seed(alice.context.request, id, ['Something new'], 1);
	await expect(jump).toHaveText('1 new message ↓');
	const newest = page.locator(`[data-testid="message"][data-seq="${TOTAL + 1}"]`);
	await jump.click();
	await expect(newest).toBeInViewport({ ratio: 1 });
	await expect(jump).toBeHidden();

	// The search result again, then the conversation itself from the list beside it: at the bottom.
	await page.goto(`/c/${id}?at=37`);
	await expect(page.locator('[data-testid="message"][data-seq="37"]')).toBeInViewport();
	await expect(jump).toHaveText('Jump to latest ↓');
	await page
		.getByTestId('conversation-list')
		.getByRole('link', { name: new RegExp(alice.username) })
		.click();
	await expect(page).toHaveURL(new RegExp(`/c/${id}$`));
	await expect(newest).toBeInViewport({ ratio: 1 });
	await expect(jump).toBeHidden();
	await closeAll(alice, bob);
});
