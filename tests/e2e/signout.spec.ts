/**
 * Signing out ends the session on the server or does not happen: offline or with the server
 * unreachable it is refused, visibly, and the browser stays signed in; with messages still in the
 * outbox the user is asked first, and can wait for them to be delivered.
 */
import AxeBuilder from '@axe-core/playwright';
import { expect, test, type Page } from '@playwright/test';
import { E2E_ORIGIN } from '../../playwright.config';
import { conversationWith, messageWith, PASSWORD, send, serverBodies, signUp, waitLive, type Person } from './helpers';

const signOutButton = (page: Page) => page.getByRole('button', { name: 'Sign out', exact: true });
const dialog = (page: Page) => page.getByTestId('signout-dialog');

/** What the server says about this browser's session cookie (the request API ignores setOffline). */
async function meStatus(who: Person): Promise<number> {
	return (await who.context.request.get('/api/me')).status();
}

function localDbs(page: Page): Promise<(string | undefined)[]> {
	return page.evaluate(async () => (await indexedDB.databases()).map((d) => d.name));
}

/**
 * Waits until the service worker controls the page, so everything the app loads on demand is
 * cached (as for anyone who opened it before) when the test then takes the network away.
 */
async function installed(page: Page) {
	await page.evaluate(async () => {
		await navigator.serviceWorker.ready;
		if (navigator.serviceWorker.controller) return;
		await new Promise((resolve) => navigator.serviceWorker.addEventListener('controllerchange', resolve, { once: true }));
	});
}

async function expectAccessible(page: Page, what: string) {
	const result = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']).analyze();
	const bad = result.violations
		.filter((v) => v.impact === 'serious' || v.impact === 'critical')
		.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
	expect(bad, `${what}: serious or critical axe violations`).toEqual([]);
}

async function expectStillSignedIn(who: Person) {
	await expect(who.page).not.toHaveURL(/\/login$/);
	await expect(who.page.getByTestId('current-user')).toHaveText(who.username);
	expect(await meStatus(who)).toBe(200);
	expect(await localDbs(who.page)).toContain(`duet-${who.id}`);
}

async function expectSignedOut(who: Person, page: Page = who.page, timeout?: number) {
	await expect(page).toHaveURL(/\/login$/, { timeout });
	expect(await meStatus(who)).toBe(401);
	await expect.poll(() => localDbs(page)).not.toContain(`duet-${who.id}`);
}

test('offline, signing out is refused with the reason; back online it works and the session ends', async ({ browser }) => {
	const alice = await signUp(browser, 'alice');
	await alice.page.goto('/');
	await waitLive(alice.page);

	await alice.context.setOffline(true);
	await expect(alice.page.getByTestId('connection')).toHaveAttribute('data-state', 'offline');
	await signOutButton(alice.page).click();
	await expect(alice.page.getByRole('alert')).toHaveText(/You're offline.*can't sign out until the connection is back.*still signed in/);
	await expectStillSignedIn(alice);
	await expectAccessible(alice.page, 'sign-out refused');

	await alice.context.setOffline(false);
	await waitLive(alice.page);
	await signOutButton(alice.page).click();
	await expectSignedOut(alice);
	await alice.context.close();
});

test('with the server unreachable or failing, signing out is refused the same way', async ({ browser }) => {
	const alice = await signUp(browser, 'alice');
	await alice.page.goto('/');
	await waitLive(alice.page);

	let answer: 'abort' | 503 | 'pass' = 'abort';
	await alice.page.route('**/api/auth/logout', (route) =>
		answer === 'abort' ? route.abort('connectionrefused') : answer === 503 ? route.fulfill({ status: 503, body: '' }) : route.continue()
	);
	for (const next of [503, 'pass'] as const) {
		await signOutButton(alice.page).click();
		await expect(alice.page.getByTestId('signout-error')).toHaveText(
			/server can't be reached.*can't sign out until it's back.*still signed in/
		);
		await expectStillSignedIn(alice);
		answer = next;
	}
	await signOutButton(alice.page).click();
	await expectSignedOut(alice);
	await alice.context.close();
});

test('unsent messages: signing out asks first, and "wait" delivers them, then signs out', async ({ browser }) => {
	const alice = await signUp(browser, 'alice');
	const bob = await signUp(browser, 'bob');
	const id = await conversationWith(alice, bob);
	await alice.page.goto(`/c/${id}`);
	await bob.page.goto(`/c/${id}`);
	await waitLive(alice.page);
	await waitLive(bob.page);
	await installed(alice.page);

	await alice.context.setOffline(true);
	await expect(alice.page.getByTestId('connection')).toHaveAttribute('data-state', 'offline');
	await send(alice.page, 'first, written offline');
	await send(alice.page, 'second, written offline');

	// Offline, even "sign out anyway" cannot end the session: refused, and nothing is discarded.
	await signOutButton(alice.page).click();
	await expect(dialog(alice.page)).toBeVisible();
	await expect(dialog(alice.page).getByTestId('signout-unsent')).toHaveText("2 messages haven't been sent yet.");
	await expectAccessible(alice.page, 'unsent messages dialog');
	await dialog(alice.page)
		.getByRole('button', { name: /^Sign out anyway/ })
		.click();
	await expect(alice.page.getByTestId('signout-error')).toContainText("can't sign out");
	await expect(dialog(alice.page)).toBeHidden();
	await expectStillSignedIn(alice);
	await expect(messageWith(alice.page, 'second, written offline')).toHaveAttribute('data-status', 'sending');

	// Keyboard only: Escape cancels, and "Wait for them" has the focus when the dialog opens.
	await signOutButton(alice.page).click();
	await expect(dialog(alice.page)).toBeVisible();
	await alice.page.keyboard.press('Escape');
	await expect(dialog(alice.page)).toBeHidden();
	await signOutButton(alice.page).click();
	const wait = dialog(alice.page).getByRole('button', { name: 'Wait for them' });
	await expect(wait).toBeFocused();
	await alice.page.keyboard.press('Enter');
	await expect(dialog(alice.page).getByRole('status')).toContainText('Waiting for them to be delivered');
	// Still waiting while nothing can be delivered.
	await expectStillSignedIn(alice);
	expect(await serverBodies(bob, id)).toEqual([]);

	// Reconnecting, delivering and signing out: a few round trips, however loaded the machine is.
	await alice.context.setOffline(false);
	await expectSignedOut(alice, alice.page, 30_000);
	expect(await serverBodies(bob, id)).toEqual(['first, written offline', 'second, written offline']);
	await expect(messageWith(bob.page, 'second, written offline')).toBeVisible();
	await alice.context.close();
	await bob.context.close();
});

test('unsent messages: "sign out anyway" discards them and signs out every tab', async ({ browser }) => {
	const alice = await signUp(browser, 'alice');
	const bob = await signUp(browser, 'bob');
	const id = await conversationWith(alice, bob);
	// The chat endpoints fail but the rest of the server answers: the sends stay queued.
	await alice.context.routeWebSocket(/\/ws(\?|$)/, (ws) => ws.close());
	for (const path of ['**/api/messages', '**/api/events**']) await alice.context.route(path, (route) => route.abort());
	const other = await alice.context.newPage();
	await alice.page.goto(`/c/${id}`);
	await other.goto('/');
	await send(alice.page, 'never delivered 1');
	await send(alice.page, 'never delivered 2');

	await signOutButton(alice.page).click();
	await expect(dialog(alice.page).getByTestId('signout-unsent')).toHaveText("2 messages haven't been sent yet.");
	await dialog(alice.page)
		.getByRole('button', { name: /^Sign out anyway/ })
		.click();
	await expectSignedOut(alice);
	await expect(other).toHaveURL(/\/login$/);
	expect(await serverBodies(bob, id)).toEqual([]);
	await alice.context.close();
	await bob.context.close();
});

test("offline with nothing cached for the dialog, the browser's own question stands in for it", async ({ browser }) => {
	const alice = await signUp(browser, 'alice', { serviceWorkers: 'block' });
	const bob = await signUp(browser, 'bob');
	const id = await conversationWith(alice, bob);
	await alice.page.goto(`/c/${id}`);
	await waitLive(alice.page);
	await alice.context.setOffline(true);
	await expect(alice.page.getByTestId('connection')).toHaveAttribute('data-state', 'offline');
	await send(alice.page, 'queued 1');

	const asked = new Promise<string>((resolve) =>
		alice.page.once('dialog', (question) => {
			resolve(question.message());
			void question.accept();
		})
	);
	await signOutButton(alice.page).click();
	expect(await asked).toBe("1 message hasn't been sent yet. Signing out discards it. Sign out anyway?");
	// Accepted, but offline: refused like any other sign-out, and the message is kept.
	await expect(alice.page.getByTestId('signout-error')).toContainText("You're offline");
	await expectStillSignedIn(alice);
	await alice.context.close();
	await bob.context.close();
});

test('a session that ended while no tab was open leaves nothing behind once the sign-in page shows', async ({ browser }) => {
	const alice = await signUp(browser, 'alice');
	await alice.page.goto('/');
	await waitLive(alice.page);
	expect(await localDbs(alice.page)).toContain(`duet-${alice.id}`);
	await alice.page.close();

	// Signed out by another route than this browser's client (no JavaScript, an expired session).
	expect((await alice.context.request.post('/api/auth/logout')).status()).toBe(204);
	const page = await alice.context.newPage();
	await page.goto('/');
	await expect(page).toHaveURL(/\/login$/);
	await expect.poll(() => page.evaluate(() => localStorage.getItem('duet:lastUser'))).toBeNull();
	await expect.poll(() => localDbs(page)).not.toContain(`duet-${alice.id}`);
	await alice.context.close();
});

test.describe('without JavaScript', () => {
	test('the sign-out form ends the session', async ({ browser }) => {
		const alice = await signUp(browser, 'nojs', { javaScriptEnabled: false });
		await alice.page.goto('/');
		await expect(alice.page.getByTestId('current-user')).toHaveText(alice.username);
		await signOutButton(alice.page).click();
		await expect(alice.page).toHaveURL(/\/login$/);
		expect(await meStatus(alice)).toBe(401);
		await alice.context.close();
	});
});

test('sign out everywhere asks first, then ends every device’s session; the other device says why', async ({ browser }) => {
	const alice = await signUp(browser, 'alice');
	const bob = await signUp(browser, 'bob');
	const id = await conversationWith(alice, bob);
	// Alice's second device: a browser of its own, signed in with her password.
	const laptop = await browser.newContext({ baseURL: E2E_ORIGIN });
	expect((await laptop.request.post('/api/auth/login', { data: { username: alice.username, password: PASSWORD } })).status()).toBe(200);
	const elsewhere = await laptop.newPage();
	await elsewhere.goto(`/c/${id}`);
	await waitLive(elsewhere);

	await alice.page.goto('/');
	await waitLive(alice.page);
	const everywhere = alice.page.getByRole('button', { name: 'Sign out everywhere' });
	await everywhere.click();
	await expect(dialog(alice.page).getByRole('heading')).toHaveText('Sign out everywhere?');
	await dialog(alice.page).getByRole('button', { name: 'Cancel' }).click();
	await expect(dialog(alice.page)).toHaveCount(0);
	expect(await meStatus(alice)).toBe(200);

	await everywhere.click();
	await dialog(alice.page).getByRole('button', { name: 'Sign out everywhere' }).click();
	await expect(alice.page).toHaveURL(/\/login$/);
	await expect(alice.page.getByTestId('signed-out-elsewhere')).toHaveCount(0);
	await expect(elsewhere).toHaveURL(/\/login\?ended=elsewhere$/);
	await expect(elsewhere.getByTestId('signed-out-elsewhere')).toHaveText(/signed out on this device from another one/);
	expect(await meStatus(alice)).toBe(401);
	expect((await laptop.request.get('/api/me')).status()).toBe(401);
	await laptop.close();
	await alice.context.close();
	await bob.context.close();
});
