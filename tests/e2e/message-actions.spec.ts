/**
 * Reply, edit, delete and react (issue 16), between two people in two browser contexts: with the
 * pointer, with the keyboard alone, offline, refused by the server, over the SSE fallback, and
 * checked by axe with every part of a changed message on screen.
 */
import AxeBuilder from '@axe-core/playwright';
import { expect, test, type Page } from '@playwright/test';
import { E2E_ORIGIN } from '../../playwright.config';
import { conversationWith, send, signUp, waitLive, type Person } from './helpers';
import { startProxy, type TestProxy } from './support/proxy';

/** A message row by its body's exact text (a reply's quote of it does not count). */
function row(page: Page, body: string) {
	return page
		.getByTestId('messages')
		.getByTestId('message')
		.filter({ has: page.getByTestId('message-body').getByText(body, { exact: true }) });
}

/** The row of a message by its id: still found once its text has changed or it was deleted. */
function rowById(page: Page, id: string) {
	return page.getByTestId('messages').locator(`[data-testid="message"][data-id="${id}"]`);
}

/** Messages posted straight to the HTTP API (one client, in order); returns their ids. */
async function post(person: Person, conversationId: string, bodies: string[], replyTo: string | null = null) {
	const clientId = crypto.randomUUID();
	const ids: string[] = [];
	for (const [i, body] of bodies.entries()) {
		const id = crypto.randomUUID();
		const response = await person.context.request.post('/api/messages', {
			data: { id, conversationId, clientId, clientSeq: i + 1, body, replyTo }
		});
		expect(response.ok()).toBe(true);
		ids.push(id);
	}
	return ids;
}

async function openChat(person: Person, conversationId: string, origin = '') {
	await person.page.goto(`${origin}/c/${conversationId}`);
	await waitLive(person.page);
}

/** The action bar shows on hover (or focus within the message): hover first, as a user would. */
async function actionBar(message: ReturnType<typeof row>) {
	await message.getByTestId('bubble').hover();
	const bar = message.getByTestId('message-actions');
	await expect(bar).toBeVisible();
	return bar;
}

async function openMenu(page: Page, message: ReturnType<typeof row>) {
	await (await actionBar(message)).getByTestId('message-menu-button').click();
	const menu = page.getByTestId('message-menu');
	await expect(menu).toBeVisible();
	return menu;
}

async function quickReact(page: Page, message: ReturnType<typeof row>, emoji: string) {
	await (await actionBar(message)).getByRole('button', { name: 'Add reaction' }).click();
	await page
		.getByTestId('quick-reactions')
		.getByRole('button', { name: `React ${emoji}` })
		.click();
	await expect(page.getByTestId('quick-reactions')).toBeHidden();
}

async function edit(page: Page, message: ReturnType<typeof row>, body: string) {
	await (await openMenu(page, message)).getByTestId('menu-edit').click();
	await expect(page.getByTestId('editing-bar')).toBeVisible();
	const box = page.getByLabel('Message', { exact: true });
	await expect(box).toBeFocused();
	await box.fill(body);
	await box.press('Enter');
	await expect(page.getByTestId('editing-bar')).toBeHidden();
}

function chip(message: ReturnType<typeof row>, emoji: string) {
	return message.getByTestId('reaction').and(message.locator(`[data-emoji="${emoji}"]`));
}

async function closeAll(...people: Person[]) {
	for (const p of people) await p.context.close();
}

async function pair(browser: Parameters<typeof signUp>[0]) {
	const alice = await signUp(browser, 'alice');
	const bob = await signUp(browser, 'bob');
	const id = await conversationWith(alice, bob);
	return { alice, bob, id };
}

test('reply: the quote shows for both, and activating it highlights the original', async ({ browser }) => {
	const { alice, bob, id } = await pair(browser);
	await openChat(alice, id);
	await openChat(bob, id);
	await send(alice.page, 'Lunch at noon?');
	await send(alice.page, 'Or later?');

	const original = row(bob.page, 'Lunch at noon?');
	await (await actionBar(original)).getByRole('button', { name: 'Reply' }).click();
	await expect(bob.page.getByTestId('reply-bar')).toContainText(`Replying to ${alice.username}`);
	await expect(bob.page.getByTestId('reply-bar')).toContainText('Lunch at noon?');
	await send(bob.page, 'Noon works');
	await expect(bob.page.getByTestId('reply-bar')).toBeHidden();

	const originalId = await original.getAttribute('data-id');
	for (const [page, name] of [
		[bob.page, alice.username],
		[alice.page, 'You']
	] as const) {
		const reply = row(page, 'Noon works');
		await expect(reply).toHaveAttribute('data-reply-to', originalId!);
		await expect(reply.getByTestId('reply-quote')).toHaveAccessibleName(`In reply to ${name}: Lunch at noon?`);
	}
	await row(alice.page, 'Noon works').getByTestId('reply-quote').click();
	await expect(row(alice.page, 'Lunch at noon?')).toHaveAttribute('data-highlight', 'true');
	await expect(row(alice.page, 'Lunch at noon?')).toBeInViewport();
	await expect(row(alice.page, 'Or later?')).not.toHaveAttribute('data-highlight');
	await closeAll(alice, bob);
});

test('reply to a message older than what is loaded: the quote loads history back to it', async ({ browser }) => {
	const { alice, bob, id } = await pair(browser);
	const ids = await post(
		alice,
		id,
		Array.from({ length: 70 }, (_, i) => `history ${i + 1}`)
	);
	await post(bob, id, ['Back to the very first one'], ids[0]);

	await openChat(bob, id);
	const list = bob.page.getByTestId('messages');
	await expect(list).toHaveAttribute('data-count', '50');
	const reply = row(bob.page, 'Back to the very first one');
	// Not loaded here: the quote is looked up from the server.
	await expect(reply.getByTestId('reply-quote')).toHaveAccessibleName(`In reply to ${alice.username}: history 1`);
	await reply.getByTestId('reply-quote').click();
	const first = rowById(bob.page, ids[0]);
	await expect(first).toHaveAttribute('data-highlight', 'true');
	await expect(first).toBeInViewport();
	await expect(first.getByTestId('message-body')).toHaveText('history 1');
	await expect(list).toHaveAttribute('data-count', '71');
	await closeAll(alice, bob);
});

test('edit: both see the new text and "edited"; Up edits the last own message, Escape cancels', async ({ browser }) => {
	const { alice, bob, id } = await pair(browser);
	await openChat(alice, id);
	await openChat(bob, id);
	await send(alice.page, 'Meet at 5');
	await send(alice.page, 'At the station');
	await expect(row(bob.page, 'At the station')).toBeVisible();

	const mine = row(alice.page, 'Meet at 5');
	const messageId = (await mine.getAttribute('data-id'))!;
	await (await openMenu(alice.page, mine)).getByTestId('menu-edit').click();
	const box = alice.page.getByLabel('Message', { exact: true });
	await expect(alice.page.getByTestId('editing-bar')).toContainText('Editing message');
	await expect(box).toHaveValue('Meet at 5');
	await expect(alice.page.getByRole('button', { name: 'Save' })).toBeVisible();
	await box.fill('Meet at 6');
	await box.press('Enter');
	await expect(alice.page.getByTestId('editing-bar')).toBeHidden();
	await expect(box).toHaveValue('');
	await expect(alice.page.getByRole('button', { name: 'Send' })).toBeVisible();

	for (const page of [alice.page, bob.page]) {
		const edited = rowById(page, messageId);
		await expect(edited.getByTestId('message-body')).toHaveText('Meet at 6');
		await expect(edited.getByTestId('edited')).toHaveText('edited');
		await expect(edited.getByTestId('change-pending')).toHaveCount(0);
	}
	await expect(row(alice.page, 'At the station').getByTestId('edited')).toHaveCount(0);

	// Up in the empty composer edits the newest own message; Escape gives the box back empty.
	await box.focus();
	await box.press('ArrowUp');
	await expect(alice.page.getByTestId('editing-bar')).toContainText('At the station');
	await expect(box).toHaveValue('At the station');
	await box.press('Escape');
	await expect(alice.page.getByTestId('editing-bar')).toBeHidden();
	await expect(box).toHaveValue('');

	// A draft typed before an edit waits aside and comes back after it is cancelled.
	await box.fill('half a thought');
	await (await openMenu(alice.page, row(alice.page, 'At the station'))).getByTestId('menu-edit').click();
	await expect(box).toHaveValue('At the station');
	await box.press('Escape');
	await expect(box).toHaveValue('half a thought');
	await expect(row(bob.page, 'At the station').getByTestId('edited')).toHaveCount(0);
	await closeAll(alice, bob);
});

test('delete: after confirming, both see "This message was deleted", and the conversation list too', async ({ browser }) => {
	const { alice, bob, id } = await pair(browser);
	await openChat(alice, id);
	await openChat(bob, id);
	await send(alice.page, 'Keep this one');
	await send(alice.page, 'Oops, wrong chat');
	await expect(row(bob.page, 'Oops, wrong chat')).toBeVisible();
	const messageId = (await row(alice.page, 'Oops, wrong chat').getAttribute('data-id'))!;

	// Cancel first: nothing happens.
	await (await openMenu(alice.page, row(alice.page, 'Oops, wrong chat'))).getByTestId('menu-delete').click();
	const dialog = alice.page.getByTestId('confirm-delete-dialog');
	await expect(dialog).toBeVisible();
	await dialog.getByRole('button', { name: 'Cancel' }).click();
	await expect(dialog).toBeHidden();
	await expect(row(alice.page, 'Oops, wrong chat')).toBeVisible();

	await (await openMenu(alice.page, row(alice.page, 'Oops, wrong chat'))).getByTestId('menu-delete').click();
	await expect(dialog).toBeVisible();
	await dialog.getByTestId('confirm-delete').click();
	await expect(dialog).toBeHidden();
	for (const page of [alice.page, bob.page]) {
		const gone = rowById(page, messageId);
		await expect(gone).toHaveAttribute('data-deleted', 'true');
		await expect(gone.getByTestId('message-deleted')).toHaveText('This message was deleted');
		await expect(gone.getByTestId('message-body')).toHaveCount(0);
		await expect(gone.getByTestId('message-actions')).toHaveCount(0);
		await expect(row(page, 'Keep this one')).toBeVisible();
	}

	// The list (its own tab, so the window's width does not decide whether it shows).
	for (const [person, preview] of [
		[alice, 'You deleted a message'],
		[bob, 'This message was deleted']
	] as const) {
		const tab = await person.context.newPage();
		await tab.goto('/');
		await expect(tab.getByTestId('conversation')).toContainText(preview);
		await expect(tab.getByTestId('conversation')).not.toContainText('Oops');
		await tab.close();
	}
	await closeAll(alice, bob);
});

test('react: quick reactions, counts for both, taking one back, and the full picker', async ({ browser }) => {
	const { alice, bob, id } = await pair(browser);
	await openChat(alice, id);
	await openChat(bob, id);
	await send(alice.page, 'Passed my driving test!');
	const onBob = row(bob.page, 'Passed my driving test!');
	const onAlice = row(alice.page, 'Passed my driving test!');

	await quickReact(bob.page, onBob, '👍');
	await expect(chip(onBob, '👍')).toHaveAccessibleName('👍 1: You');
	await expect(chip(onBob, '👍')).toHaveAttribute('aria-pressed', 'true');
	await expect(chip(onAlice, '👍')).toHaveAccessibleName(`👍 1: ${bob.username}`);
	await expect(chip(onAlice, '👍')).toHaveAttribute('aria-pressed', 'false');

	// Alice adds hers through the chip.
	await chip(onAlice, '👍').click();
	await expect(chip(onAlice, '👍')).toHaveAccessibleName(`👍 2: ${bob.username}, You`);
	await expect(chip(onAlice, '👍')).toHaveAttribute('aria-pressed', 'true');
	await expect(chip(onBob, '👍')).toHaveAccessibleName(`👍 2: You, ${alice.username}`);

	// Bob takes his back.
	await chip(onBob, '👍').click();
	await expect(chip(onBob, '👍')).toHaveAccessibleName(`👍 1: ${alice.username}`);
	await expect(chip(onBob, '👍')).toHaveAttribute('aria-pressed', 'false');
	await expect(chip(onAlice, '👍')).toHaveAccessibleName('👍 1: You');

	// The quick row shows what Bob chose: after one more, 😂 is pressed there.
	await quickReact(bob.page, onBob, '😂');
	await expect(chip(onAlice, '😂')).toHaveAccessibleName(`😂 1: ${bob.username}`);
	await (await actionBar(onBob)).getByRole('button', { name: 'Add reaction' }).click();
	const quick = bob.page.getByTestId('quick-reactions');
	await expect(quick.getByRole('button', { name: 'React 😂' })).toHaveAttribute('aria-pressed', 'true');
	await expect(quick.getByRole('button', { name: 'React 👍' })).toHaveAttribute('aria-pressed', 'false');

	// The full picker, from "More reactions".
	await quick.getByTestId('more-reactions').click();
	const picker = bob.page.getByTestId('emoji-picker');
	await expect(picker).toHaveAttribute('data-state', 'ready');
	await expect(picker).toHaveAccessibleName('Choose a reaction');
	await picker.getByRole('combobox').fill('rocket');
	// Search results are a listbox; each option is named by its emoji first ("🚀, rocket, …").
	await picker.getByRole('option', { name: /^🚀,/ }).click();
	await expect(picker).toBeHidden();
	await expect(chip(onBob, '🚀')).toHaveAccessibleName('🚀 1: You');
	await expect(chip(onAlice, '🚀')).toHaveAccessibleName(`🚀 1: ${bob.username}`);
	await expect(onAlice.getByTestId('reaction')).toHaveCount(3);
	await closeAll(alice, bob);
});

test('offline: an edit and a reaction show at once as pending, and reach the peer once online', async ({ browser }) => {
	const { alice, bob, id } = await pair(browser);
	await openChat(alice, id);
	await openChat(bob, id);
	await send(alice.page, 'Train leaves at 8');
	await send(bob.page, 'I will be there');
	await expect(row(alice.page, 'I will be there')).toBeVisible();
	const editedId = (await row(alice.page, 'Train leaves at 8').getAttribute('data-id'))!;

	await alice.context.setOffline(true);
	await expect(alice.page.getByTestId('connection')).toHaveAttribute('data-state', 'offline');
	await edit(alice.page, row(alice.page, 'Train leaves at 8'), 'Train leaves at 9');
	await quickReact(alice.page, row(alice.page, 'I will be there'), '❤️');

	const edited = rowById(alice.page, editedId);
	await expect(edited.getByTestId('message-body')).toHaveText('Train leaves at 9');
	await expect(edited.getByTestId('change-pending')).toBeVisible();
	const reacted = row(alice.page, 'I will be there');
	await expect(chip(reacted, '❤️')).toHaveAccessibleName('❤️ 1: You');
	await expect(reacted.getByTestId('change-pending')).toBeVisible();
	// Bob has nothing yet: the server never heard of either.
	await expect(rowById(bob.page, editedId).getByTestId('message-body')).toHaveText('Train leaves at 8');
	await expect(row(bob.page, 'I will be there').getByTestId('reaction')).toHaveCount(0);

	await alice.context.setOffline(false);
	await expect(rowById(bob.page, editedId).getByTestId('message-body')).toHaveText('Train leaves at 9');
	await expect(rowById(bob.page, editedId).getByTestId('edited')).toBeVisible();
	await expect(chip(row(bob.page, 'I will be there'), '❤️')).toHaveAccessibleName(`❤️ 1: ${alice.username}`);
	await expect(alice.page.getByTestId('change-pending')).toHaveCount(0);
	await expect(edited.getByTestId('message-body')).toHaveText('Train leaves at 9');
	await expect(edited.getByTestId('edited')).toBeVisible();
	await expect(chip(reacted, '❤️')).toHaveAccessibleName('❤️ 1: You');
	await closeAll(alice, bob);
});

test('a change the server refuses rolls back visibly, with its reason, until dismissed', async ({ browser }) => {
	const { alice, bob, id } = await pair(browser);
	await openChat(alice, id);
	await openChat(bob, id);
	await send(alice.page, 'Dinner on Friday');
	const messageId = (await row(alice.page, 'Dinner on Friday').getAttribute('data-id'))!;
	await expect(rowById(bob.page, messageId)).toBeVisible();

	// Alice's tab is offline while her other device deletes the message; then the tab edits it.
	await alice.context.setOffline(true);
	await expect(alice.page.getByTestId('connection')).toHaveAttribute('data-state', 'offline');
	const deleted = await alice.context.request.delete(`/api/messages/${messageId}`);
	expect(deleted.status()).toBe(200);
	await expect(rowById(bob.page, messageId)).toHaveAttribute('data-deleted', 'true');
	await edit(alice.page, row(alice.page, 'Dinner on Friday'), 'Dinner on Saturday');
	await expect(rowById(alice.page, messageId).getByTestId('message-body')).toHaveText('Dinner on Saturday');
	await expect(rowById(alice.page, messageId).getByTestId('change-pending')).toBeVisible();

	await alice.context.setOffline(false);
	const alert = alice.page.getByTestId('change-failed');
	await expect(alert).toBeVisible();
	await expect(alert).toHaveRole('alert');
	await expect(alert).toContainText('Your edit was not saved.');
	// A reason beyond the fixed sentence.
	await expect(alert.locator('p')).not.toHaveText('Your edit was not saved.');
	const shown = rowById(alice.page, messageId);
	await expect(shown).toHaveAttribute('data-deleted', 'true');
	await expect(shown.getByTestId('message-deleted')).toHaveText('This message was deleted');
	await expect(shown.getByTestId('change-pending')).toHaveCount(0);
	await expect(rowById(bob.page, messageId).getByTestId('message-deleted')).toBeVisible();

	await alert.getByRole('button', { name: 'Dismiss' }).click();
	await expect(alert).toHaveCount(0);
	await expect(shown).toHaveAttribute('data-deleted', 'true');
	await closeAll(alice, bob);
});

test('keyboard only: menu, reply and reactions from a focused bubble; Escape closes and returns focus', async ({ browser }) => {
	const { alice, bob, id } = await pair(browser);
	await post(alice, id, ['Anyone up for tennis?']);
	await openChat(bob, id);
	const page = bob.page;
	const message = row(page, 'Anyone up for tennis?');
	const bubble = message.getByTestId('bubble');

	const messageId = (await message.getAttribute('data-id'))!;
	const inMessage = (selector: string) => `[data-testid="message"][data-id="${messageId}"] ${selector}`;

	/**
	 * Presses Tab (or Shift+Tab) until the focused element matches, as a keyboard user would. It
	 * reads the focused element rather than waiting on a locator: the action bar's buttons are
	 * hidden (and match no role locator) until focus is in their message.
	 */
	async function tabTo(selector: string, key = 'Tab') {
		for (let i = 0; i < 30; i++) {
			await page.keyboard.press(key);
			if (await page.evaluate((s) => document.activeElement?.matches(s) ?? false, selector)) return;
		}
		throw new Error(`focus never reached ${selector}`);
	}

	// From the composer back to the message.
	await page.getByLabel('Message', { exact: true }).focus();
	await tabTo(inMessage('[data-testid="bubble"]'), 'Shift+Tab');
	await expect(bubble).toBeFocused();

	// Enter opens the menu on its first item; arrows move; Enter on Reply starts a reply.
	await page.keyboard.press('Enter');
	const menu = page.getByTestId('message-menu');
	await expect(menu).toBeVisible();
	await expect(menu.getByTestId('menu-reply')).toBeFocused();
	await page.keyboard.press('ArrowDown');
	await expect(menu.getByTestId('menu-react')).toBeFocused();
	await page.keyboard.press('ArrowUp');
	await expect(menu.getByTestId('menu-reply')).toBeFocused();
	await page.keyboard.press('ArrowUp');
	await expect(menu.getByTestId('menu-copy')).toBeFocused();
	await page.keyboard.press('Home');
	await expect(menu.getByTestId('menu-reply')).toBeFocused();
	await page.keyboard.press('Enter');
	await expect(menu).toBeHidden();
	await expect(page.getByTestId('reply-bar')).toContainText(`Replying to ${alice.username}`);
	const box = page.getByLabel('Message', { exact: true });
	await expect(box).toBeFocused();
	await page.keyboard.type('Me!');
	await page.keyboard.press('Enter');
	const reply = row(page, 'Me!');
	await expect(reply.getByTestId('reply-quote')).toHaveAccessibleName(`In reply to ${alice.username}: Anyone up for tennis?`);
	await expect(page.getByTestId('reply-bar')).toBeHidden();

	// Escape closes the menu and puts focus back on the bubble.
	await bubble.focus();
	await page.keyboard.press('Shift+F10');
	await expect(menu).toBeVisible();
	await page.keyboard.press('Escape');
	await expect(menu).toBeHidden();
	await expect(bubble).toBeFocused();

	// React from the menu: the quick row takes focus, arrows move along it, Enter picks.
	await page.keyboard.press('Enter');
	await expect(menu.getByTestId('menu-reply')).toBeFocused();
	await page.keyboard.press('ArrowDown');
	await expect(menu.getByTestId('menu-react')).toBeFocused();
	await page.keyboard.press('Enter');
	const quick = page.getByTestId('quick-reactions');
	await expect(quick.getByRole('button', { name: 'React 👍' })).toBeFocused();
	await page.keyboard.press('ArrowRight');
	await expect(quick.getByRole('button', { name: 'React ❤️' })).toBeFocused();
	await page.keyboard.press('Enter');
	await expect(quick).toBeHidden();
	await expect(chip(message, '❤️')).toHaveAccessibleName('❤️ 1: You');
	await expect(bubble).toBeFocused();
	// Still there once the server has confirmed it (the message is re-rendered from its answer).
	await expect(message.getByTestId('change-pending')).toHaveCount(0);
	await expect(bubble).toBeFocused();

	// Tab from the bubble reaches its action bar; Escape from its popover returns to the button.
	await tabTo(inMessage('button[aria-label="Add reaction"]'));
	await expect(message.getByTestId('message-actions')).toBeVisible();
	await page.keyboard.press('Enter');
	await expect(quick.getByRole('button', { name: 'React 👍' })).toBeFocused();
	await page.keyboard.press('Escape');
	await expect(quick).toBeHidden();
	await expect(message.getByRole('button', { name: 'Add reaction' })).toBeFocused();

	// The chip takes the reaction back with the keyboard too.
	await chip(message, '❤️').focus();
	await page.keyboard.press('Enter');
	await expect(message.getByTestId('reaction')).toHaveCount(0);
	await closeAll(alice, bob);
});

test('a menu whose code cannot be loaded says so, and opens once it can', async ({ browser }) => {
	const alice = await signUp(browser, 'alice', { serviceWorkers: 'block' });
	const bob = await signUp(browser, 'bob');
	const id = await conversationWith(alice, bob);
	await post(bob, id, ['Are you around?']);
	await openChat(alice, id);
	const message = row(alice.page, 'Are you around?');
	await expect(message).toBeVisible();

	// The menu's code is loaded on first use: from now on, no script can be fetched.
	let blocked = true;
	await alice.page.route('**/_app/immutable/**/*.js', (route) => (blocked ? route.abort() : route.continue()));
	const bar = await actionBar(message);
	await bar.getByTestId('message-menu-button').click();
	await expect(message.getByTestId('message-notice')).toHaveText('Could not open this. Check your connection and try again.');
	await expect(alice.page.getByTestId('message-menu')).toHaveCount(0);
	await expect(bar.getByTestId('message-menu-button')).toHaveAttribute('aria-expanded', 'false');

	blocked = false;
	await bar.getByTestId('message-menu-button').click();
	await expect(alice.page.getByTestId('message-menu')).toBeVisible();
	await expect(alice.page.getByTestId('menu-reply')).toBeFocused();
	await closeAll(alice, bob);
});

test.describe('over the SSE fallback', () => {
	let proxy: TestProxy | null = null;
	test.afterEach(async () => {
		await proxy?.close();
		proxy = null;
	});

	test('with WebSocket upgrades refused, edits and reactions still reach the peer', async ({ browser }) => {
		const { alice, bob, id } = await pair(browser);
		proxy = await startProxy(E2E_ORIGIN, 'refuse');
		for (const { page } of [alice, bob]) {
			await page.goto(`${proxy.origin}/c/${id}`);
			await expect(page.getByTestId('connection-badge')).toHaveAttribute('data-state', 'fallback', { timeout: 20_000 });
		}
		await send(alice.page, 'Over the fallback');
		const messageId = (await row(bob.page, 'Over the fallback').getAttribute('data-id'))!;

		await edit(alice.page, row(alice.page, 'Over the fallback'), 'Edited over the fallback');
		await expect(rowById(bob.page, messageId).getByTestId('message-body')).toHaveText('Edited over the fallback');
		await expect(rowById(bob.page, messageId).getByTestId('edited')).toBeVisible();

		await quickReact(bob.page, rowById(bob.page, messageId), '🙏');
		await expect(chip(rowById(alice.page, messageId), '🙏')).toHaveAccessibleName(`🙏 1: ${bob.username}`);
		await expect(chip(rowById(bob.page, messageId), '🙏')).toHaveAttribute('aria-pressed', 'true');
		await expect(alice.page.getByTestId('change-pending')).toHaveCount(0);
		await expect(bob.page.getByTestId('change-pending')).toHaveCount(0);
		expect(proxy.upgrades.refuse).toBeGreaterThan(0);
		await closeAll(alice, bob);
	});
});

async function axe(page: Page, what: string) {
	const result = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']).analyze();
	const bad = result.violations
		.filter((v) => v.impact === 'serious' || v.impact === 'critical')
		.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
	expect(bad, `${what}: serious or critical axe violations`).toEqual([]);
}

for (const colorScheme of ['light', 'dark'] as const) {
	test(`axe: a quote, reactions, an edit and a deletion, the menu and the picker (${colorScheme})`, async ({ browser }) => {
		const { alice, bob, id } = await pair(browser);
		const [question, gone] = await post(alice, id, ['Pizza or pasta?', 'Never mind this']);
		const [answer] = await post(bob, id, ['Pizza, obviously'], question);
		await post(alice, id, ['Deal'], answer);
		const request = alice.context.request;
		expect((await request.patch(`/api/messages/${question}`, { data: { body: 'Pizza or pasta tonight?' } })).ok()).toBe(true);
		expect((await request.delete(`/api/messages/${gone}`)).ok()).toBe(true);
		expect((await request.put(`/api/messages/${answer}/reactions/${encodeURIComponent('👍')}`)).ok()).toBe(true);
		expect((await bob.context.request.put(`/api/messages/${answer}/reactions/${encodeURIComponent('👍')}`)).ok()).toBe(true);
		expect((await bob.context.request.put(`/api/messages/${question}/reactions/${encodeURIComponent('😂')}`)).ok()).toBe(true);

		await alice.page.emulateMedia({ colorScheme });
		await openChat(alice, id);
		const page = alice.page;
		await expect(rowById(page, question).getByTestId('edited')).toBeVisible();
		await expect(rowById(page, gone).getByTestId('message-deleted')).toBeVisible();
		await expect(chip(rowById(page, answer), '👍')).toHaveAccessibleName(`👍 2: You, ${bob.username}`);
		await expect(rowById(page, answer).getByTestId('reply-quote')).toHaveAccessibleName('In reply to You: Pizza or pasta tonight?');
		await expect(row(page, 'Deal').getByTestId('reply-quote')).toHaveAccessibleName(`In reply to ${bob.username}: Pizza, obviously`);
		await axe(page, 'changed messages');

		// With the action bar showing, and the menu open.
		const menu = await openMenu(page, row(page, 'Deal'));
		await axe(page, 'message menu');
		await menu.press('Escape');
		await expect(menu).toBeHidden();

		await (await actionBar(rowById(page, answer))).getByRole('button', { name: 'Add reaction' }).click();
		await axe(page, 'quick reactions');
		await page.getByTestId('more-reactions').click();
		await expect(page.getByTestId('emoji-picker')).toHaveAttribute('data-state', 'ready');
		await expect(page.getByTestId('emoji-picker').getByRole('menuitem').first()).toBeVisible();
		await axe(page, 'emoji picker');
		await page.keyboard.press('Escape');
		await expect(page.getByTestId('emoji-picker')).toBeHidden();

		await (await openMenu(page, row(page, 'Deal'))).getByTestId('menu-delete').click();
		await expect(page.getByTestId('confirm-delete-dialog')).toBeVisible();
		await axe(page, 'delete confirmation');
		await closeAll(alice, bob);
	});
}
