/**
 * The first ten minutes (issue 19), between two people in two browser contexts: delivery status
 * told by shape and colour with the app's own icons, the length counter, the unread count in the
 * tab's title, drafts in the conversation list, safe links, and the dismissable offers strip.
 */
import AxeBuilder from '@axe-core/playwright';
import { expect, test, type Locator, type Page } from '@playwright/test';
import { MAX_BODY_CHARS } from '../../src/lib/message-rules';
import { conversationWith, messageWith, send, serverBodies, signUp, waitLive, type Person } from './helpers';

async function pair(browser: Parameters<typeof signUp>[0], options: Parameters<typeof signUp>[2] = {}) {
	const alice = await signUp(browser, 'alice', options);
	const bob = await signUp(browser, 'bob', options);
	return { alice, bob, id: await conversationWith(alice, bob) };
}

/** Messages posted straight to the HTTP API, in order. */
async function post(person: Person, conversationId: string, bodies: string[]) {
	const clientId = crypto.randomUUID();
	for (const [i, body] of bodies.entries()) {
		const response = await person.context.request.post('/api/messages', {
			data: { id: crypto.randomUUID(), conversationId, clientId, clientSeq: i + 1, body, replyTo: null }
		});
		expect(response.ok()).toBe(true);
	}
}

async function axe(page: Page, what: string) {
	const result = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']).analyze();
	const bad = result.violations
		.filter((v) => v.impact === 'serious' || v.impact === 'critical')
		.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
	expect(bad, `${what}: serious or critical axe violations`).toEqual([]);
}

/**
 * The status icon's ink (the read badge's fill, else the stroke colour) and the bubble behind it,
 * as sRGB through a canvas (computed styles may be oklch), with their WCAG contrast ratio. Axe does
 * not check the contrast of graphics, so this does.
 */
function iconInk(status: Locator) {
	return status.evaluate((el) => {
		const svg = el.querySelector('svg');
		if (!svg) throw new Error('no svg in the status');
		const filled = svg.querySelector('rect');
		const ink = filled ? getComputedStyle(filled).fill : getComputedStyle(svg).color;
		const bubble = getComputedStyle(el.closest('[data-testid="bubble"]')!).backgroundColor;
		const ctx = document.createElement('canvas').getContext('2d', { willReadFrequently: true })!;
		const rgb = (color: string) => {
			ctx.clearRect(0, 0, 1, 1);
			ctx.fillStyle = color;
			ctx.fillRect(0, 0, 1, 1);
			return [...ctx.getImageData(0, 0, 1, 1).data.slice(0, 3)];
		};
		const luminance = (c: number[]) => {
			const [r, g, b] = c.map((v) => (v / 255 <= 0.04045 ? v / 255 / 12.92 : ((v / 255 + 0.055) / 1.055) ** 2.4));
			return 0.2126 * r + 0.7152 * g + 0.0722 * b;
		};
		const [a, b] = [luminance(rgb(ink)), luminance(rgb(bubble))];
		return { ink: rgb(ink).join(','), contrast: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05) };
	});
}

/** The status shows its state with an SVG of ours and no glyph: the only text is its name for screen readers. */
async function expectStatus(page: Page, body: string, state: string, name: string) {
	const status = messageWith(page, body).getByTestId('status');
	await expect(status).toHaveAttribute('data-status', state);
	await expect(status.locator('svg')).toHaveCount(1);
	await expect(status).toHaveText(name);
	const { ink, contrast } = await iconInk(status);
	expect(contrast, `${state} icon against its bubble`).toBeGreaterThanOrEqual(3);
	return ink;
}

test('status icons: sending, sent, delivered and read are told apart by shape and colour, in light and dark', async ({ browser }) => {
	const { alice, bob, id } = await pair(browser);
	await alice.page.goto(`/c/${id}`);
	await waitLive(alice.page);

	await alice.context.setOffline(true);
	await expect(alice.page.getByTestId('connection')).toHaveAttribute('data-state', 'offline');
	await send(alice.page, 'status check');
	await expectStatus(alice.page, 'status check', 'sending', 'Sending');

	await alice.context.setOffline(false);
	await expectStatus(alice.page, 'status check', 'sent', 'Sent');

	// Bob's client stores it on any page: delivered. Opening the chat: read.
	await bob.page.goto('/');
	const delivered = await expectStatus(alice.page, 'status check', 'delivered', 'Delivered');
	const deliveredIcon = await messageWith(alice.page, 'status check').getByTestId('status').locator('svg').innerHTML();
	await bob.page.getByTestId('conversation').filter({ hasText: alice.username }).click();
	await expect(messageWith(bob.page, 'status check')).toBeVisible();
	for (const colorScheme of ['light', 'dark'] as const) {
		await alice.page.emulateMedia({ colorScheme });
		const read = await expectStatus(alice.page, 'status check', 'read', 'Read');
		expect(read, 'read differs from delivered in colour').not.toBe(delivered);
		const readIcon = await messageWith(alice.page, 'status check').getByTestId('status').locator('svg').innerHTML();
		expect(readIcon, 'read differs from delivered in shape').not.toBe(deliveredIcon);
		await axe(alice.page, `chat with a read message (${colorScheme})`);
	}
	await alice.context.close();
	await bob.context.close();
});

test('near the limit a counter says what is left; past it the send is refused, never cut', async ({ browser }) => {
	const { alice, bob, id } = await pair(browser);
	await alice.page.goto(`/c/${id}`);
	await waitLive(alice.page);
	const box = alice.page.getByLabel('Message', { exact: true });
	const counter = alice.page.getByTestId('char-counter');
	await expect(counter).toHaveAttribute('aria-live', 'polite');

	await box.fill('a'.repeat(MAX_BODY_CHARS - 201));
	await expect(counter).toHaveText('');
	await box.fill('a'.repeat(MAX_BODY_CHARS - 200));
	await expect(counter).toHaveText('200 characters left');
	await expect(counter).toBeVisible();

	const tooLong = 'b'.repeat(MAX_BODY_CHARS + 1);
	await box.fill(tooLong);
	await expect(counter).toHaveText('1 character over the limit');
	await expect(counter).toHaveAttribute('data-over', 'true');
	await expect(box).toHaveAttribute('aria-invalid', 'true');
	await box.press('Enter');
	await expect(alice.page.getByRole('alert')).toHaveText(
		/This message is 1 character too long\. A message can have at most 4,000 characters\./
	);
	// Kept as typed, whole, and not sent.
	await expect(box).toHaveValue(tooLong);
	expect(await serverBodies(alice, id)).toEqual([]);
	await axe(alice.page, 'composer over the limit');

	await box.press('Backspace');
	await expect(counter).toHaveText('0 characters left');
	await expect(counter).not.toHaveAttribute('data-over');
	await expect(alice.page.getByRole('alert')).toHaveCount(0);
	await box.press('Enter');
	await expect(box).toHaveValue('');
	await expect.poll(() => serverBodies(alice, id)).toEqual(['b'.repeat(MAX_BODY_CHARS)]);
	await alice.context.close();
	await bob.context.close();
});

test("the tab's title counts unread messages as they arrive, and drops the count once they are read", async ({ browser }) => {
	const { alice, bob, id } = await pair(browser);
	await alice.page.goto('/');
	await waitLive(alice.page);
	await expect(alice.page).toHaveTitle('Duet');

	await post(bob, id, ['one']);
	await expect(alice.page).toHaveTitle('(1) Duet');
	await post(bob, id, ['two', 'three']);
	await expect(alice.page).toHaveTitle('(3) Duet');

	await alice.page.getByTestId('conversation').filter({ hasText: bob.username }).click();
	await expect(messageWith(alice.page, 'three')).toBeVisible();
	await expect(alice.page).toHaveTitle(`${bob.username} · Duet`);
	await alice.context.close();
	await bob.context.close();
});

test('a conversation with an unsent draft says "Draft:" in the list, until it is sent', async ({ browser }) => {
	const { alice, bob, id } = await pair(browser);
	await post(bob, id, ['are you coming?']);
	await alice.page.goto(`/c/${id}`);
	await waitLive(alice.page);
	await alice.page.getByLabel('Message', { exact: true }).fill('yes, at\neight');

	await alice.page.getByRole('link', { name: 'Duet', exact: true }).click();
	const row = alice.page.getByTestId('conversation').filter({ hasText: bob.username });
	await expect(row.getByTestId('draft')).toHaveText('Draft: yes, at eight');
	await alice.page.reload();
	await expect(row.getByTestId('draft')).toHaveText('Draft: yes, at eight');
	await axe(alice.page, 'conversation list with a draft');

	await row.click();
	await expect(alice.page.getByLabel('Message', { exact: true })).toHaveValue('yes, at\neight');
	await alice.page.getByLabel('Message', { exact: true }).press('Enter');
	await alice.page.getByRole('link', { name: 'Duet', exact: true }).click();
	await expect(row).toContainText('You: yes, at eight');
	await expect(row.getByTestId('draft')).toHaveCount(0);
	await alice.context.close();
	await bob.context.close();
});

test('links in messages open safely: http, https and mailto only, in a new tab without the opener', async ({ browser }) => {
	const { alice, bob, id } = await pair(browser);
	await post(bob, id, [
		'see https://example.com/a?b=1 or http://example.org, mail mailto:a@example.com; not javascript:alert(1) nor data:text/html,hi'
	]);
	await alice.page.goto(`/c/${id}`);
	await waitLive(alice.page);
	const body = messageWith(alice.page, 'see https').getByTestId('message-body');
	const links = body.getByRole('link');
	await expect(links).toHaveCount(3);
	expect(await links.evaluateAll((as) => as.map((a) => a.getAttribute('href')))).toEqual([
		'https://example.com/a?b=1',
		'http://example.org',
		'mailto:a@example.com'
	]);
	for (const link of await links.all()) {
		await expect(link).toHaveAttribute('rel', /(?=.*\bnoopener\b)(?=.*\bnoreferrer\b)/);
		await expect(link).toHaveAttribute('target', '_blank');
	}
	await expect(body).toContainText('javascript:alert(1)');
	await expect(body).toContainText('data:text/html,hi');
	await expect(body.locator('a[href^="javascript:" i], a[href^="data:" i]')).toHaveCount(0);
	await alice.context.close();
	await bob.context.close();
});

test('the offers strip is small on a phone, in plain words, and stays dismissed', async ({ browser }) => {
	const alice = await signUp(browser, 'alice', { viewport: { width: 390, height: 844 } });
	await alice.page.goto('/');
	const strip = alice.page.getByTestId('pwa-controls');
	await expect(strip).toBeVisible();
	await expect(strip).not.toContainText(/persist|storage/i);
	// One line of small text, at most two: the chat keeps the phone's screen.
	const box = await strip.boundingBox();
	expect(box!.height).toBeLessThanOrEqual(48);
	await axe(alice.page, 'home with the offers strip');

	await strip.getByRole('button', { name: 'Hide these suggestions' }).click();
	await expect(strip).toBeHidden();
	await alice.page.reload();
	await waitLive(alice.page);
	await expect(strip).toBeHidden();
	await alice.context.close();
});

test('the list shows my unsent message at once, and who is online', async ({ browser }) => {
	const { alice, bob, id } = await pair(browser);
	await post(bob, id, ['are you there?']);
	await alice.page.goto(`/c/${id}`);
	await waitLive(alice.page);
	const row = alice.page.getByTestId('conversation').filter({ hasText: bob.username });
	await expect(row).toContainText('are you there?');
	// Bob is not here yet: no dot; once he opens Duet, he is.
	await expect(row.getByTestId('peer-online')).toHaveCount(0);
	await bob.page.goto('/');
	await waitLive(bob.page);
	await expect(row.getByTestId('peer-online')).toBeVisible();
	await expect(row).toHaveAccessibleName(new RegExp(`online ${bob.username}`));

	// Written offline, the message is the row's last one straight away, before any server saw it.
	await alice.context.setOffline(true);
	await expect(alice.page.getByTestId('connection')).not.toHaveAttribute('data-state', 'live');
	await send(alice.page, 'on my way');
	await expect(row).toContainText('You: on my way');
	// Not live, this device cannot know Bob is still online, so it does not claim it.
	await expect(row.getByTestId('peer-online')).toHaveCount(0);
	await alice.context.setOffline(false);
	await waitLive(alice.page);
	await expect(row.getByTestId('peer-online')).toBeVisible();
	await bob.page.goto(`/c/${id}`);
	await expect(messageWith(bob.page, 'on my way')).toBeVisible();
	await expect(row).toContainText('You: on my way');

	await bob.context.close();
	await expect(row.getByTestId('peer-online')).toHaveCount(0);
	await alice.context.close();
});
