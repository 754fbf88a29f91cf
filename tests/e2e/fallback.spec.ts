/**
 * Behind proxies that break WebSockets the app falls back to SSE + POST on its own, keeps every
 * guarantee there, and returns to WebSocket once upgrades pass again. Both people's pages are
 * loaded through tests/e2e/support/proxy.ts, on the proxy's own origin.
 */
import { expect, test, type Browser, type Page } from '@playwright/test';
import { E2E_ORIGIN } from '../../playwright.config';
import { conversationWith, localBodies, messageWith, send, serverBodies, signUp, type Person } from './helpers';
import { startProxy, type ProxyMode, type TestProxy } from './support/proxy';

/** Shared CI machines can take a while to load a page; this is not what these tests measure. */
const LIVE_TIMEOUT = 20_000;
const badge = (page: Page) => page.getByTestId('connection-badge');

let proxy: TestProxy | null = null;
const people: Person[] = [];

// Pages left open would keep reconnecting to a closed proxy and slow the next test down.
test.afterEach(async () => {
	await Promise.all(people.splice(0).map((p) => p.context.close()));
	await proxy?.close();
	proxy = null;
});

async function pairBehind(browser: Browser, mode: ProxyMode) {
	const p = await startProxy(E2E_ORIGIN, mode);
	proxy = p;
	const alice = await signUp(browser, 'alice');
	const bob = await signUp(browser, 'bob');
	people.push(alice, bob);
	const id = await conversationWith(alice, bob);
	return { proxy: p, alice, bob, id };
}

async function exchange(alice: Person, bob: Person, tag: string) {
	await send(alice.page, `${tag}: from alice`);
	await expect(messageWith(bob.page, `${tag}: from alice`)).toBeVisible();
	await send(bob.page, `${tag}: from bob`);
	await expect(messageWith(alice.page, `${tag}: from bob`)).toBeVisible();
}

test('upgrades refused: both chat in real time over SSE + POST, then move back to WebSocket losing and doubling nothing', async ({
	browser
}) => {
	test.setTimeout(150_000);
	const { proxy, alice, bob, id } = await pairBehind(browser, 'refuse');
	await alice.page.goto(`${proxy.origin}/c/${id}`);
	await bob.page.goto(`${proxy.origin}/c/${id}`);
	for (const { page } of [alice, bob]) {
		await expect(badge(page)).toHaveAttribute('data-state', 'fallback', { timeout: LIVE_TIMEOUT });
		await expect(page.getByRole('status', { name: 'Connected live over the fallback (server-sent events and HTTP)' })).toBeVisible();
	}
	expect(proxy.upgrades.refuse).toBeGreaterThan(0);
	await expect(bob.page.getByTestId('presence')).toHaveText(/online/);

	await send(alice.page, 'Hello over SSE');
	await expect(messageWith(bob.page, 'Hello over SSE')).toBeVisible();
	await bob.page.getByLabel('Message', { exact: true }).pressSequentially('Hi Al');
	await expect(alice.page.getByTestId('typing')).toHaveText(`${bob.username} is typing…`);
	await bob.page.getByLabel('Message', { exact: true }).press('Enter');
	await expect(messageWith(alice.page, 'Hi Al')).toBeVisible();
	await expect(alice.page.getByTestId('typing')).toHaveText('');
	await expect(messageWith(alice.page, 'Hello over SSE')).toHaveAttribute('data-status', 'read');
	await expect(messageWith(bob.page, 'Hi Al')).toHaveAttribute('data-status', 'read');

	// The failed WebSocket is remembered, so a reload starts on SSE without waiting for it to fail.
	expect(await bob.page.evaluate(() => localStorage.getItem('duet:ws-failed-until'))).not.toBeNull();
	await bob.page.reload();
	await expect(badge(bob.page)).toHaveAttribute('data-state', 'fallback', { timeout: LIVE_TIMEOUT });

	// Upgrades start passing; both keep writing while the background probes find out.
	proxy.mode = 'pass';
	let round = 0;
	const deadline = Date.now() + 60_000;
	while (
		(await badge(alice.page).getAttribute('data-state')) !== 'websocket' ||
		(await badge(bob.page).getAttribute('data-state')) !== 'websocket'
	) {
		expect(Date.now(), 'both clients back on WebSocket within a minute').toBeLessThan(deadline);
		await exchange(alice, bob, `switch ${++round}`);
	}
	expect(proxy.upgrades.pass).toBeGreaterThan(0);
	await exchange(alice, bob, 'after');
	expect(await alice.page.evaluate(() => localStorage.getItem('duet:ws-failed-until'))).toBeNull();

	// Nothing lost, nothing doubled, the same order everywhere. How many rounds the switch took
	// depends on the machine, so the whole history is read from each browser's local database
	// (what the chat renders from), not from the virtualised list, which holds only a window.
	const stored = await serverBodies(alice, id);
	expect(new Set(stored).size).toBe(stored.length);
	expect(stored).toHaveLength(2 + 2 * round + 2);
	await expect.poll(() => localBodies(alice.page, alice, id)).toEqual(stored);
	await expect.poll(() => localBodies(bob.page, bob, id)).toEqual(stored);
	await expect(messageWith(alice.page, 'after: from bob')).toBeVisible();
	await expect(messageWith(bob.page, 'after: from bob')).toHaveAttribute('data-status', 'read');
});

test('a black-holed WebSocket (101, then silence) switches to the fallback within 10 s', async ({ browser }) => {
	const { proxy, alice, bob, id } = await pairBehind(browser, 'blackhole');
	for (const { page } of [alice, bob]) {
		await page.goto(`${proxy.origin}/c/${id}`);
		// From the moment the page has loaded and its client is trying the WebSocket.
		await expect(badge(page)).toHaveAttribute('data-transport', 'ws');
		const started = Date.now();
		await expect(badge(page)).toHaveAttribute('data-transport', 'sse', { timeout: 10_000 });
		expect(Date.now() - started).toBeLessThan(10_000);
		// Going live on SSE is then one more round trip, however loaded the machine is.
		await expect(badge(page)).toHaveAttribute('data-state', 'fallback', { timeout: LIVE_TIMEOUT });
	}
	expect(proxy.upgrades.blackhole).toBeGreaterThan(0);
	await exchange(alice, bob, 'blackhole');
});

test('a WebSocket accepted and closed at once falls back too', async ({ browser }) => {
	const { proxy, alice, bob, id } = await pairBehind(browser, 'close');
	await alice.page.goto(`${proxy.origin}/c/${id}`);
	await bob.page.goto(`${proxy.origin}/c/${id}`);
	await expect(badge(alice.page)).toHaveAttribute('data-state', 'fallback', { timeout: LIVE_TIMEOUT });
	await expect(badge(bob.page)).toHaveAttribute('data-state', 'fallback', { timeout: LIVE_TIMEOUT });
	expect(proxy.upgrades.close).toBeGreaterThan(0);
	await exchange(alice, bob, 'closed at once');
	await expect(messageWith(alice.page, 'closed at once: from alice')).toHaveAttribute('data-status', 'read');
});

test('?transport=sse forces the fallback even where WebSocket works', async ({ browser }) => {
	const { proxy, alice, bob, id } = await pairBehind(browser, 'pass');
	await alice.page.goto(`${proxy.origin}/c/${id}?transport=sse`);
	await bob.page.goto(`${proxy.origin}/c/${id}`);
	await expect(badge(alice.page)).toHaveAttribute('data-state', 'fallback', { timeout: LIVE_TIMEOUT });
	await expect(badge(bob.page)).toHaveAttribute('data-state', 'websocket', { timeout: LIVE_TIMEOUT });
	await exchange(alice, bob, 'forced');
});
