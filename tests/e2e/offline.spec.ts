import { expect, test, type Page } from '@playwright/test';
import { conversationWith, localBodies, localStatuses, messageWith, send, serverBodies, signUp, waitLive, waitStarted } from './helpers';

const texts = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => `${prefix} ${i + 1}`);

test('offline: 20 messages wait, then arrive once and in order, and turn delivered then read', async ({ browser }) => {
	const alice = await signUp(browser, 'alice');
	const bob = await signUp(browser, 'bob');
	const id = await conversationWith(alice, bob);
	await alice.page.goto(`/c/${id}`);
	await waitLive(alice.page);
	// The list renders only the rows near the view: all 20 are checked in the local database the
	// chat renders from, and the newest one, which the list follows, on screen.
	const statuses = () => localStatuses(alice.page, alice, id);
	const newest = () => messageWith(alice.page, 'offline 20');

	await alice.context.setOffline(true);
	await expect(alice.page.getByTestId('connection')).toHaveAttribute('data-state', 'offline');
	await expect(alice.page.getByTestId('connection')).toContainText('offline');
	const sent = texts(20, 'offline');
	for (const text of sent) await send(alice.page, text);
	await expect.poll(() => localBodies(alice.page, alice, id)).toEqual(sent);
	expect(await statuses()).toEqual(sent.map(() => 'sending'));
	await expect(newest()).toHaveAttribute('data-status', 'sending');

	await alice.context.setOffline(false);
	await expect.poll(statuses).toEqual(sent.map(() => 'sent'));
	expect(await serverBodies(bob, id)).toEqual(sent);

	// Bob's client stores them (on any page): delivered. Opening the chat: read.
	await bob.page.goto('/');
	await expect.poll(statuses).toEqual(sent.map(() => 'delivered'));
	await expect(newest()).toHaveAttribute('data-status', 'delivered');
	await bob.page.getByTestId('conversation').filter({ hasText: alice.username }).click();
	await expect(messageWith(bob.page, 'offline 20')).toBeVisible();
	await expect.poll(() => localBodies(bob.page, bob, id)).toEqual(sent);
	await expect.poll(statuses).toEqual(sent.map(() => 'read'));
	await expect(newest()).toHaveAttribute('data-status', 'read');
	expect(await serverBodies(bob, id)).toEqual(sent);

	await alice.context.close();
	await bob.context.close();
});

test('with the chat endpoints blocked, sends survive a reload and go out once, in order, when unblocked', async ({ browser }) => {
	const alice = await signUp(browser, 'alice');
	const bob = await signUp(browser, 'bob');
	const id = await conversationWith(alice, bob);

	let blocked = true;
	await alice.page.routeWebSocket(/\/ws(\?|$)/, (ws) => {
		if (blocked) ws.close();
		else ws.connectToServer();
	});
	for (const path of ['**/api/messages', '**/api/events**']) {
		await alice.page.route(path, (route) => (blocked ? route.abort() : route.continue()));
	}

	await alice.page.goto(`/c/${id}`);
	await waitStarted(alice.page);
	const sent = texts(5, 'blocked');
	const statuses = () => localStatuses(alice.page, alice, id);
	for (const text of sent) await send(alice.page, text);
	await expect.poll(() => localBodies(alice.page, alice, id)).toEqual(sent);

	await alice.page.reload();
	await expect(messageWith(alice.page, 'blocked 5')).toHaveAttribute('data-status', 'sending');
	expect(await localBodies(alice.page, alice, id)).toEqual(sent);
	expect(await statuses()).toEqual(sent.map(() => 'sending'));
	expect(await serverBodies(bob, id)).toEqual([]);

	blocked = false;
	// The client retries on its own backoff; the browser's "online" event makes it try at once.
	await alice.page.evaluate(() => dispatchEvent(new Event('online')));
	await expect.poll(statuses).toEqual(sent.map(() => 'sent'));
	expect(await serverBodies(bob, id)).toEqual(sent);
	expect(await localBodies(alice.page, alice, id)).toEqual(sent);
	await expect(messageWith(alice.page, 'blocked 5')).toHaveAttribute('data-status', 'sent');

	await alice.context.close();
	await bob.context.close();
});

test('two tabs of one user: one connection, shared messages, drafts that follow live, take-over on close', async ({ browser }) => {
	const alice = await signUp(browser, 'alice');
	const bob = await signUp(browser, 'bob');
	const id = await conversationWith(alice, bob);

	const open = new Map<Page, number>();
	const track = (page: Page) => {
		open.set(page, 0);
		page.on('websocket', (ws) => {
			if (!/\/ws(\?|$)/.test(ws.url())) return;
			open.set(page, (open.get(page) ?? 0) + 1);
			ws.on('close', () => open.set(page, (open.get(page) ?? 1) - 1));
		});
	};
	const tabA = alice.page;
	const tabB = await alice.context.newPage();
	track(tabA);
	track(tabB);
	await tabA.goto(`/c/${id}`);
	await waitLive(tabA);
	await tabB.goto(`/c/${id}`);
	await waitLive(tabB);
	await expect.poll(() => [open.get(tabA), open.get(tabB)]).toEqual([1, 0]);

	// A message written in tab B (the follower) shows in A, and goes out through A's connection.
	await send(tabB, 'from tab B');
	await expect(messageWith(tabA, 'from tab B')).toBeVisible();
	await expect(messageWith(tabB, 'from tab B')).toHaveAttribute('data-status', /sent|delivered|read/);
	expect(await serverBodies(bob, id)).toEqual(['from tab B']);

	// A draft typed in tab A is there after a reload (and in the other tab).
	await tabA.getByLabel('Message', { exact: true }).fill('half a thought');
	await expect.poll(() => readDraft(tabA, alice.id, id)).toBe('half a thought');
	await tabB.reload();
	await expect(tabB.getByLabel('Message', { exact: true })).toHaveValue('half a thought');
	// And it follows live: typed on in B, it shows in A; sent from A, it is gone from B's box too.
	await tabB.getByLabel('Message', { exact: true }).fill('half a thought, finished');
	await expect(tabA.getByLabel('Message', { exact: true })).toHaveValue('half a thought, finished');
	await tabA.getByLabel('Message', { exact: true }).press('Enter');
	await expect(messageWith(tabB, 'half a thought, finished')).toBeVisible();
	await expect(tabB.getByLabel('Message', { exact: true })).toHaveValue('');

	// Closing the leader hands the connection to the other tab.
	await tabA.close();
	await expect.poll(() => open.get(tabB)).toBe(1);
	await waitLive(tabB);
	await send(tabB, 'after take-over');
	await expect(messageWith(tabB, 'after take-over')).toHaveAttribute('data-status', /sent|delivered|read/);
	expect(await serverBodies(bob, id)).toEqual(['from tab B', 'half a thought, finished', 'after take-over']);

	await alice.context.close();
	await bob.context.close();
});

test('signing out in one tab signs out every tab and deletes the local database', async ({ browser }) => {
	const alice = await signUp(browser, 'alice');
	const bob = await signUp(browser, 'bob');
	const id = await conversationWith(alice, bob);
	const tabA = alice.page;
	const tabB = await alice.context.newPage();
	await tabA.goto(`/c/${id}`);
	await tabB.goto('/');
	await waitLive(tabA);
	await waitLive(tabB);
	await send(tabA, 'private');
	await expect(messageWith(tabA, 'private')).toHaveAttribute('data-status', /sent|delivered|read/);

	await tabB.getByRole('button', { name: 'Sign out', exact: true }).click();
	await expect(tabB).toHaveURL(/\/login$/);
	await expect(tabA).toHaveURL(/\/login$/);
	await expect.poll(() => tabA.evaluate(async () => (await indexedDB.databases()).map((d) => d.name))).not.toContain(`duet-${alice.id}`);

	await alice.context.close();
	await bob.context.close();
});

/** Reads a draft straight from IndexedDB, as a reload would find it. */
function readDraft(page: Page, userId: string, conversationId: string): Promise<string | null> {
	return page.evaluate(
		({ name, key }) =>
			new Promise<string | null>((resolve, reject) => {
				const request = indexedDB.open(name);
				request.onerror = () => reject(request.error);
				request.onsuccess = () => {
					const db = request.result;
					const get = db.transaction('drafts').objectStore('drafts').get(key);
					get.onsuccess = () => {
						resolve((get.result as { body?: string } | undefined)?.body ?? null);
						db.close();
					};
					get.onerror = () => reject(get.error);
				};
			}),
		{ name: `duet-${userId}`, key: conversationId }
	);
}
