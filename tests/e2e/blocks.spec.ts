/**
 * Blocking and muting in two browsers: a block stops the blocked person's messages and typing
 * (their message says "Not delivered" and never reaches the blocker), unblocking restores sending,
 * a muted conversation carries its icon and stays out of the tab's unread count, and the blocked
 * people page blocks and unblocks by username. Axe on each new piece.
 */
import AxeBuilder from '@axe-core/playwright';
import { expect, test, type Page } from '@playwright/test';
import { conversationWith, localBodies, messageWith, send, signUp, waitLive } from './helpers';

async function axe(page: Page, what: string) {
	const result = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']).analyze();
	const bad = result.violations
		.filter((v) => v.impact === 'serious' || v.impact === 'critical')
		.map((v) => ({ id: v.id, nodes: v.nodes.map((n) => n.target.join(' ')) }));
	expect(bad, `${what}: serious or critical axe violations`).toEqual([]);
}

test('blocking: the blocked person’s message is not delivered and their typing not shown; unblocking restores both', async ({
	browser
}) => {
	const alice = await signUp(browser, 'alice');
	const bob = await signUp(browser, 'bob');
	const id = await conversationWith(alice, bob);
	await alice.page.goto(`/c/${id}`);
	await bob.page.goto(`/c/${id}`);
	await waitLive(alice.page);
	await waitLive(bob.page);
	await send(bob.page, 'before the block');
	await expect(messageWith(alice.page, 'before the block')).toBeVisible();

	await alice.page.getByRole('button', { name: 'Conversation options' }).click();
	await alice.page.getByRole('button', { name: `Block ${bob.username}…` }).click();
	const dialog = alice.page.getByTestId('confirm-block');
	await expect(dialog).toBeVisible();
	await axe(alice.page, 'the block confirmation');
	await dialog.getByRole('button', { name: 'Block', exact: true }).click();
	const notice = alice.page.getByTestId('blocked-notice');
	await expect(notice).toHaveText(new RegExp(`You blocked ${bob.username}\\. Unblock to send messages\\.`));
	await expect(alice.page.getByLabel('Message', { exact: true })).toHaveCount(0);
	await axe(alice.page, 'a conversation with a blocked person');

	// Bob is told nothing, but what he types and sends goes nowhere.
	await bob.page.getByLabel('Message', { exact: true }).pressSequentially('are you there');
	await bob.page.getByLabel('Message', { exact: true }).press('Enter');
	const refused = messageWith(bob.page, 'are you there');
	await expect(refused).toHaveAttribute('data-status', 'failed');
	await expect(refused).toContainText('Not delivered');
	// By the time his send was refused, his typing (sent first) would have reached Alice.
	await expect(alice.page.getByTestId('typing')).toHaveText('');
	expect(await localBodies(alice.page, alice, id)).toEqual(['before the block']);
	await expect(messageWith(alice.page, 'before the block')).toBeVisible();

	await notice.getByRole('button', { name: 'Unblock' }).click();
	await expect(notice).toHaveCount(0);
	await send(bob.page, 'after the unblock');
	await expect(messageWith(alice.page, 'after the unblock')).toBeVisible();
	await send(alice.page, 'welcome back');
	await expect(messageWith(bob.page, 'welcome back')).toBeVisible();
	expect(await localBodies(alice.page, alice, id)).not.toContain('are you there');
	await alice.context.close();
	await bob.context.close();
});

test('muting: the icon shows, on the user’s other tab too, and new messages count nowhere but the list', async ({ browser }) => {
	const alice = await signUp(browser, 'alice');
	const bob = await signUp(browser, 'bob');
	const id = await conversationWith(alice, bob);
	await alice.page.goto(`/c/${id}`);
	await waitLive(alice.page);
	// A second device of Alice's (another browser profile) sees the mute without a reload.
	const laptop = await browser.newContext({ storageState: await alice.context.storageState() });
	const other = await laptop.newPage();
	await other.goto('/');
	await waitLive(other);

	await alice.page.getByRole('button', { name: 'Conversation options' }).click();
	await alice.page.getByRole('button', { name: 'Mute notifications' }).click();
	const row = other.getByTestId('conversation').filter({ hasText: bob.username });
	await expect(row.getByRole('img', { name: 'Muted' })).toBeVisible();
	await axe(other, 'the list with a muted conversation');

	await alice.page.goto('/');
	await waitLive(alice.page);
	const mine = alice.page.getByTestId('conversation').filter({ hasText: bob.username });
	await expect(mine.getByRole('img', { name: 'Muted' })).toBeVisible();
	const response = await bob.context.request.post('/api/messages', {
		data: { id: crypto.randomUUID(), conversationId: id, clientId: crypto.randomUUID(), clientSeq: 1, body: 'quietly' }
	});
	expect(response.ok()).toBe(true);
	await expect(mine.getByTestId('unread')).toHaveText(/1/);
	expect(await alice.page.title()).not.toMatch(/^\(\d+\)/);

	// Unmuting shows on the other device as well.
	await alice.page.goto(`/c/${id}`);
	await alice.page.getByRole('button', { name: 'Conversation options' }).click();
	await alice.page.getByRole('button', { name: 'Unmute' }).click();
	await expect(row.getByRole('img', { name: 'Muted' })).toHaveCount(0);
	await laptop.close();
	await alice.context.close();
	await bob.context.close();
});

test('the blocked people page blocks and unblocks by username', async ({ browser }) => {
	const alice = await signUp(browser, 'alice');
	const carol = await signUp(browser, 'carol');
	await alice.page.goto('/settings/blocked');
	await expect(alice.page.getByTestId('no-blocked')).toBeVisible();
	await axe(alice.page, 'the blocked people page');
	await alice.page.getByLabel('Username to block').fill('nobody_like_this');
	await alice.page.getByRole('button', { name: 'Block', exact: true }).click();
	await expect(alice.page.getByRole('alert')).toContainText('There is no user called');
	await alice.page.getByLabel('Username to block').fill(carol.username);
	await alice.page.getByRole('button', { name: 'Block', exact: true }).click();
	await expect(alice.page.getByTestId('blocked-list')).toContainText(carol.username);
	await expect(alice.page.getByTestId('blocked-status')).toHaveText(`You blocked ${carol.username}.`);
	await axe(alice.page, 'the blocked people page with someone on it');
	await alice.page.getByRole('button', { name: `Unblock ${carol.username}` }).click();
	await expect(alice.page.getByTestId('no-blocked')).toBeVisible();
	await alice.context.close();
	await carol.context.close();
});

test('without JavaScript the blocked people page still blocks and unblocks', async ({ browser }) => {
	const alice = await signUp(browser, 'alice', { javaScriptEnabled: false });
	const carol = await signUp(browser, 'carol');
	await alice.page.goto('/settings/blocked');
	await alice.page.getByLabel('Username to block').fill(carol.username);
	await alice.page.getByRole('button', { name: 'Block', exact: true }).click();
	await expect(alice.page.getByTestId('blocked-list')).toContainText(carol.username);
	await alice.page.getByRole('button', { name: `Unblock ${carol.username}` }).click();
	await expect(alice.page.getByTestId('no-blocked')).toBeVisible();
	await alice.context.close();
	await carol.context.close();
});
