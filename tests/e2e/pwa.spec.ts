/**
 * The PWA against the production build: service worker, manifest, installability (Chromium's own
 * check through CDP `Page.getInstallabilityErrors`, which is what Lighthouse's installable audit
 * used), an offline reload that still shows the conversation, a send queued offline and delivered
 * when back online, and the "new version" prompt when the deployed service worker changes.
 */
import { expect, test, type Page } from '@playwright/test';
import { bodies, conversationWith, send, serverBodies, signUp, waitLive, type Person } from './helpers';

async function peerSends(peer: Person, conversationId: string, body: string) {
	const response = await peer.context.request.post('/api/messages', {
		data: { id: crypto.randomUUID(), conversationId, clientId: crypto.randomUUID(), clientSeq: 1, body }
	});
	expect(response.ok()).toBe(true);
}

/** Resolves once a service worker controls the page (ours claims clients on activation). */
function controlled(page: Page) {
	return page.evaluate(async () => {
		await navigator.serviceWorker.ready;
		if (navigator.serviceWorker.controller) return navigator.serviceWorker.controller.scriptURL;
		await new Promise((resolve) => navigator.serviceWorker.addEventListener('controllerchange', resolve, { once: true }));
		return navigator.serviceWorker.controller!.scriptURL;
	});
}

function statuses(page: Page) {
	return page.getByTestId('messages').locator('[data-mine="true"]').evaluateAll((items) => items.map((i) => i.getAttribute('data-status')));
}

test('manifest is linked and valid, and Chromium finds the app installable', async ({ browser }) => {
	const alice = await signUp(browser, 'alice');
	await alice.page.goto('/');
	expect(await controlled(alice.page)).toMatch(/\/service-worker\.js$/);

	const href = await alice.page.locator('link[rel="manifest"]').evaluate((link: HTMLLinkElement) => link.href);
	expect(new URL(href).pathname).toBe('/manifest.webmanifest');
	const response = await alice.context.request.get(href);
	expect(response.ok()).toBe(true);
	const manifest = await response.json();
	expect(manifest).toMatchObject({ name: 'Duet', short_name: 'Duet', display: 'standalone', start_url: '/', scope: '/' });
	expect(manifest.theme_color).toMatch(/^#[0-9a-f]{6}$/i);
	expect(manifest.background_color).toMatch(/^#[0-9a-f]{6}$/i);
	const icons = manifest.icons as { src: string; sizes: string; type: string; purpose?: string }[];
	for (const size of ['192x192', '512x512']) expect(icons.some((i) => i.sizes === size && (i.purpose ?? 'any').includes('any'))).toBe(true);
	expect(icons.some((i) => i.purpose?.includes('maskable'))).toBe(true);
	for (const icon of icons) {
		const png = await alice.context.request.get(icon.src);
		expect(png.headers()['content-type']).toBe('image/png');
		const bytes = await png.body();
		// PNG IHDR: width and height at bytes 16..24 must match the declared size.
		expect(`${bytes.readUInt32BE(16)}x${bytes.readUInt32BE(20)}`).toBe(icon.sizes);
	}
	await expect(alice.page.locator('link[rel="apple-touch-icon"]')).toHaveAttribute('href', /\/icons\/apple-touch-icon\.png$/);

	const cdp = await alice.context.newCDPSession(alice.page);
	const { installabilityErrors } = await cdp.send('Page.getInstallabilityErrors');
	expect(installabilityErrors).toEqual([]);
	await alice.context.close();
});

test('offline: a reload still shows the conversation; a message typed offline is sent when back online', async ({ browser }) => {
	const alice = await signUp(browser, 'alice');
	const bob = await signUp(browser, 'bob');
	const id = await conversationWith(alice, bob);
	await peerSends(bob, id, 'hello from bob');

	await alice.page.goto(`/c/${id}`);
	await controlled(alice.page);
	await waitLive(alice.page);
	await send(alice.page, 'hi bob');
	await expect(bodies(alice.page)).toHaveText(['hello from bob', 'hi bob']);
	await expect.poll(() => statuses(alice.page)).toEqual(['sent']);

	await alice.context.setOffline(true);
	await alice.page.reload();
	await expect(alice.page.getByTestId('current-user')).toHaveText(alice.username);
	await expect(bodies(alice.page)).toHaveText(['hello from bob', 'hi bob']);
	await expect(alice.page.getByRole('heading', { name: bob.username })).toBeVisible();

	// Another route, never rendered by the server in this context, opens offline as well.
	await alice.page.goto('/');
	await expect(alice.page.getByTestId('conversation').filter({ hasText: bob.username })).toBeVisible();
	await alice.page.getByTestId('conversation').filter({ hasText: bob.username }).click();
	await expect(bodies(alice.page)).toHaveText(['hello from bob', 'hi bob']);

	await send(alice.page, 'written offline');
	await expect(bodies(alice.page)).toHaveText(['hello from bob', 'hi bob', 'written offline']);
	expect(await statuses(alice.page)).toEqual(['sent', 'sending']);

	await alice.context.setOffline(false);
	await expect.poll(() => statuses(alice.page)).toEqual(['sent', 'sent']);
	expect(await serverBodies(bob, id)).toEqual(['hello from bob', 'hi bob', 'written offline']);
	await alice.context.close();
	await bob.context.close();
});

test('a changed service worker on the server shows the update prompt; reloading keeps the outbox', async ({ browser }) => {
	const alice = await signUp(browser, 'alice');
	const bob = await signUp(browser, 'bob');
	const id = await conversationWith(alice, bob);
	await alice.page.goto(`/c/${id}`);
	await controlled(alice.page);
	await expect(alice.page.getByTestId('update-prompt')).toHaveCount(0);

	// A new deployment, as far as the browser can tell: the same worker with different bytes.
	// Playwright's routing does not see the browser's own fetch of a worker script, so the
	// response is rewritten through CDP's Fetch domain on the browser target, which does.
	const cdp = await browser.newBrowserCDPSession();
	await cdp.send('Fetch.enable', { patterns: [{ urlPattern: '*/service-worker.js*', requestStage: 'Response' }] });
	cdp.on('Fetch.requestPaused', async ({ requestId, responseStatusCode, responseHeaders }) => {
		const { body, base64Encoded } = await cdp.send('Fetch.getResponseBody', { requestId });
		const text = base64Encoded ? Buffer.from(body, 'base64').toString('utf8') : body;
		const headers = (responseHeaders ?? []).filter((h) => !/^(content-length|content-encoding|etag)$/i.test(h.name));
		await cdp.send('Fetch.fulfillRequest', {
			requestId,
			responseCode: responseStatusCode ?? 200,
			responseHeaders: headers,
			body: Buffer.from(`${text}\n// next deployment\n`).toString('base64')
		});
	});
	// What the hourly check (and every navigation) does.
	await alice.page.evaluate(async () => (await navigator.serviceWorker.getRegistration())?.update());
	await expect(alice.page.getByTestId('update-prompt')).toBeVisible();
	await expect(alice.page.getByTestId('update-prompt')).toContainText('New version');

	// A send waiting in the outbox survives taking the update.
	await alice.context.setOffline(true);
	await send(alice.page, 'queued across the update');
	await alice.context.setOffline(false);
	await alice.page.getByTestId('update-prompt').getByRole('button', { name: 'Reload' }).click();
	await alice.page.waitForURL(`**/c/${id}`);
	await expect(bodies(alice.page)).toHaveText(['queued across the update']);
	await expect.poll(() => serverBodies(bob, id)).toEqual(['queued across the update']);
	await cdp.detach();
	await alice.context.close();
	await bob.context.close();
});
