/**
 * The settings page: a password change ends the other devices, the sessions list signs one out,
 * read receipts off shows delivered (never read) both ways, the data download, axe, and the
 * password form without JavaScript.
 */
import AxeBuilder from '@axe-core/playwright';
import { readFile } from 'node:fs/promises';
import { expect, test, type Browser, type Page } from '@playwright/test';
import { E2E_ORIGIN } from '../../playwright.config';
import { conversationWith, messageWith, PASSWORD, send, signUp, waitLive, type Person } from './helpers';

const NEW_PASSWORD = 'a brand new passphrase';

/** A second device of the same person: its own browser context, signed in with the password. */
async function secondDevice(browser: Browser, person: Person) {
	const context = await browser.newContext({ baseURL: E2E_ORIGIN });
	const response = await context.request.post('/api/auth/login', { data: { username: person.username, password: PASSWORD } });
	expect(response.status()).toBe(200);
	return { context, page: await context.newPage() };
}

async function axe(page: Page, what: string) {
	const result = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']).analyze();
	const bad = result.violations
		.filter((v) => v.impact === 'serious' || v.impact === 'critical')
		.map((v) => ({ id: v.id, nodes: v.nodes.map((n) => n.target.join(' ')) }));
	expect(bad, `${what}: serious or critical axe violations`).toEqual([]);
}

async function changePassword(page: Page) {
	await page.getByLabel('Current password').fill(PASSWORD);
	await page.getByLabel('New password', { exact: true }).fill(NEW_PASSWORD);
	await page.getByLabel('New password again').fill(NEW_PASSWORD);
	await page.getByRole('button', { name: 'Change password' }).click();
	await expect(page.getByTestId('password-outcome')).toHaveText('Your password is changed. Every other device is signed out.');
}

test('changing the password signs the other device out, and the new password works', async ({ browser }) => {
	const alice = await signUp(browser, 'alice');
	const phone = await secondDevice(browser, alice);
	await phone.page.goto('/');
	await waitLive(phone.page);

	await alice.page.goto('/settings');
	await waitLive(alice.page);
	await axe(alice.page, 'settings');
	const wrong = alice.page.getByTestId('password-outcome').getByRole('alert');
	await alice.page.getByLabel('Current password').fill('not my password');
	await alice.page.getByLabel('New password', { exact: true }).fill(NEW_PASSWORD);
	await alice.page.getByLabel('New password again').fill(NEW_PASSWORD);
	await alice.page.getByRole('button', { name: 'Change password' }).click();
	await expect(wrong).toHaveText('The current password is incorrect.');

	await changePassword(alice.page);
	await expect(phone.page).toHaveURL(/\/login(\?|$)/);
	await expect(alice.page.getByTestId('settings-username')).toHaveText(alice.username);
	expect((await alice.context.request.get('/api/me')).status()).toBe(200);
	const again = await phone.context.request.post('/api/auth/login', { data: { username: alice.username, password: NEW_PASSWORD } });
	expect(again.status()).toBe(200);
	await phone.context.close();
	await alice.context.close();
});

test('the sessions list shows both devices, this one marked, and signs the other out', async ({ browser }) => {
	const alice = await signUp(browser, 'alice');
	const phone = await secondDevice(browser, alice);
	await phone.page.goto('/');
	await waitLive(phone.page);

	await alice.page.goto('/');
	await alice.page.getByRole('link', { name: 'Settings' }).click();
	await expect(alice.page).toHaveURL(/\/settings$/);
	const sessions = alice.page.getByTestId('session');
	await expect(sessions).toHaveCount(2);
	await expect(sessions.first()).toContainText('This device');
	await expect(sessions.nth(1)).not.toContainText('This device');
	await expect(sessions.nth(1)).toContainText('Last active around');
	await sessions
		.nth(1)
		.getByRole('button', { name: /^Sign out/ })
		.click();
	await expect(alice.page.getByTestId('sessions-outcome')).toHaveText('That device is signed out.');
	await expect(sessions).toHaveCount(1);
	await expect(phone.page).toHaveURL(/\/login(\?|$)/);
	await phone.context.close();
	await alice.context.close();
});

test('with read receipts off, messages show delivered and never read, both ways', async ({ browser }) => {
	const alice = await signUp(browser, 'alice');
	const bob = await signUp(browser, 'bob');
	const id = await conversationWith(alice, bob);

	await bob.page.goto('/settings');
	await waitLive(bob.page);
	const receipts = bob.page.getByRole('switch', { name: 'Read receipts' });
	await expect(receipts).toBeChecked();
	await receipts.click();
	await expect(bob.page.getByTestId('privacy-outcome')).toHaveText('Read receipts are off.');
	expect(await (await bob.context.request.get('/api/me/settings')).json()).toEqual({ settings: { readReceipts: false } });

	await alice.page.goto(`/c/${id}`);
	await bob.page.goto(`/c/${id}`);
	await waitLive(alice.page);
	await waitLive(bob.page);
	await send(alice.page, 'Did you read this?');
	await expect(messageWith(bob.page, 'Did you read this?')).toBeVisible();
	await send(bob.page, 'I will not say');
	await expect(messageWith(alice.page, 'I will not say')).toBeVisible();
	// Each has read the other's message (their own views say so: seq 1 is Alice's, 2 is Bob's)…
	for (const [who, seq] of [
		[alice, 2],
		[bob, 1]
	] as const) {
		// Read receipts go out only from the window with focus.
		await who.page.bringToFront();
		await expect
			.poll(async () => ((await (await who.context.request.get('/api/conversations')).json()) as any).conversations[0].myReadSeq)
			.toBeGreaterThanOrEqual(seq);
	}
	// …and a later message delivered means every receipt before it has reached both screens.
	await send(alice.page, 'One more');
	await expect(messageWith(alice.page, 'One more')).toHaveAttribute('data-status', 'delivered');
	await send(bob.page, 'And me');
	await expect(messageWith(bob.page, 'And me')).toHaveAttribute('data-status', 'delivered');
	await expect(messageWith(alice.page, 'Did you read this?')).toHaveAttribute('data-status', 'delivered');
	await expect(messageWith(bob.page, 'I will not say')).toHaveAttribute('data-status', 'delivered');

	// On again, without a reload on Alice's side: read shows.
	await bob.page.goto('/settings');
	await waitLive(bob.page);
	await bob.page.getByRole('switch', { name: 'Read receipts' }).click();
	await expect(bob.page.getByTestId('privacy-outcome')).toHaveText('Read receipts are on.');
	await expect(messageWith(alice.page, 'Did you read this?')).toHaveAttribute('data-status', 'read');
	await alice.context.close();
	await bob.context.close();
});

test('"Download my data" gives a JSON file with the messages', async ({ browser }) => {
	const alice = await signUp(browser, 'alice');
	const bob = await signUp(browser, 'bob');
	const id = await conversationWith(alice, bob);
	await alice.page.goto(`/c/${id}`);
	await waitLive(alice.page);
	await send(alice.page, 'Keep this one');
	await expect(messageWith(alice.page, 'Keep this one')).toHaveAttribute('data-status', /sent|delivered/);

	await alice.page.goto('/settings');
	const [download] = await Promise.all([
		alice.page.waitForEvent('download'),
		alice.page.getByRole('link', { name: 'Download my data' }).click()
	]);
	expect(download.suggestedFilename()).toMatch(new RegExp(`^duet-export-${alice.username}-\\d{4}-\\d{2}-\\d{2}\\.json$`));
	const data = JSON.parse(await readFile((await download.path())!, 'utf8'));
	expect(data.user.username).toBe(alice.username);
	expect(data.conversations).toHaveLength(1);
	expect(data.conversations[0].peer.username).toBe(bob.username);
	expect(data.conversations[0].messages.map((m: { body: string }) => m.body)).toEqual(['Keep this one']);
	await alice.context.close();
	await bob.context.close();
});

test('without JavaScript the password form changes the password and ends the other session', async ({ browser }) => {
	const alice = await signUp(browser, 'alice', { javaScriptEnabled: false });
	const phone = await secondDevice(browser, alice);
	await alice.page.goto('/settings');
	await changePassword(alice.page);
	expect((await phone.context.request.get('/api/me')).status()).toBe(401);
	expect((await alice.context.request.get('/api/me')).status()).toBe(200);
	// The sessions list, reloaded by the form's answer, holds only this device now.
	await expect(alice.page.getByTestId('session')).toHaveCount(1);

	// Read receipts, as a plain form with its own button.
	await alice.page.getByRole('switch', { name: 'Read receipts' }).uncheck();
	await alice.page.getByRole('button', { name: 'Save' }).click();
	await expect(alice.page.getByTestId('privacy-outcome')).toHaveText('Read receipts are off.');
	await expect(alice.page.getByRole('switch', { name: 'Read receipts' })).not.toBeChecked();
	expect(await (await alice.context.request.get('/api/me/settings')).json()).toEqual({ settings: { readReceipts: false } });
	await phone.context.close();
	await alice.context.close();
});
