/**
 * The PWA against the production build: service worker, manifest, installability (Chromium's own
 * check through CDP `Page.getInstallabilityErrors`, which is what Lighthouse's installable audit
 * used), an offline reload that still shows the conversation, a send queued offline and delivered
 * when back online, and the "new version" prompt when the deployed service worker changes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, expect, test, type Page } from '@playwright/test';

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
	return page
		.getByTestId('messages')
		.locator('[data-mine="true"]')
		.evaluateAll((items) => items.map((i) => i.getAttribute('data-status')));
}

test('the first visit registers the service worker; the manifest is linked and valid', async ({ browser }) => {
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

	await alice.context.close();
});

test("installable by Chromium's own criteria (CDP Page.getInstallabilityErrors is empty)", async ({ baseURL }) => {
	// Playwright's ordinary contexts are incognito, which Chromium never offers to install from;
	// a persistent profile is what a user has.
	const profile = await mkdtemp(path.join(tmpdir(), 'duet-pwa-'));
	const context = await chromium.launchPersistentContext(profile, { ...test.info().project.use.launchOptions, baseURL });
	try {
		const page = context.pages()[0] ?? (await context.newPage());
		await page.goto('/login');
		await controlled(page);
		const cdp = await context.newCDPSession(page);
		const { installabilityErrors } = await cdp.send('Page.getInstallabilityErrors');
		expect(installabilityErrors).toEqual([]);
		const { url, data } = await cdp.send('Page.getAppManifest');
		expect(new URL(url).pathname).toBe('/manifest.webmanifest');
		expect(JSON.parse(data ?? '{}').name).toBe('Duet');
	} finally {
		await context.close();
		await rm(profile, { recursive: true, force: true });
	}
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
	// The device holds the whole conversation from its first message: nothing older to offer.
	await expect(alice.page.getByText(`This is the start of your conversation with ${bob.username}.`)).toBeVisible();
	await expect(alice.page.getByRole('button', { name: 'Load older messages' })).toHaveCount(0);

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

async function freePort(): Promise<number> {
	return new Promise((resolve, reject) => {
		const server = net.createServer();
		server.on('error', reject);
		server.listen(0, '127.0.0.1', () => {
			const { port } = server.address() as net.AddressInfo;
			server.close(() => resolve(port));
		});
	});
}

/** The production server on a copy of the build, so the test can "deploy" a changed worker. */
async function startServer(port: number, buildDir: string, dataDir: string): Promise<ChildProcess> {
	const child = spawn(process.execPath, ['server/index.js'], {
		env: {
			...process.env,
			PORT: String(port),
			HOST: '127.0.0.1',
			ORIGIN: `http://127.0.0.1:${port}`,
			BUILD_DIR: buildDir,
			PGLITE_DIR: dataDir,
			DATABASE_URL: '',
			RATE_LIMIT: 'off'
		},
		stdio: ['ignore', 'pipe', 'inherit']
	});
	await new Promise<void>((resolve, reject) => {
		child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
		child.stdout!.on('data', (chunk: Buffer) => {
			if (chunk.toString().includes('Listening on')) resolve();
		});
	});
	return child;
}

async function stopServer(child: ChildProcess) {
	const exited = new Promise((resolve) => child.once('exit', resolve));
	child.kill('SIGTERM');
	await exited;
}

test('a redeploy with a changed service worker shows the update prompt; reloading keeps the outbox', async ({ browser }) => {
	test.setTimeout(120_000);
	// A copy of the build inside the project (its server imports resolve from node_modules).
	const build = process.env.BUILD_DIR ?? 'build';
	const copy = `${build}-pwa-update`;
	await rm(copy, { recursive: true, force: true });
	await cp(build, copy, { recursive: true });
	const data = await mkdtemp(path.join(tmpdir(), 'duet-pwa-db-'));
	const port = await freePort();
	const origin = `http://127.0.0.1:${port}`;
	let server = await startServer(port, copy, data);
	try {
		const alice = await signUp(browser, 'alice', { baseURL: origin });
		const bob = await signUp(browser, 'bob', { baseURL: origin });
		const id = await conversationWith(alice, bob);
		await alice.page.goto(`${origin}/c/${id}`);
		await controlled(alice.page);
		await waitLive(alice.page);
		await expect(alice.page.getByTestId('update-prompt')).toHaveCount(0);

		// The next deployment: same app, a service worker with different bytes. The precompressed
		// copies go, so the server sends the changed file itself.
		await stopServer(server);
		const sw = path.join(copy, 'client', 'service-worker.js');
		await writeFile(sw, `${await readFile(sw, 'utf8')}\n// next deployment\n`);
		await rm(`${sw}.br`, { force: true });
		await rm(`${sw}.gz`, { force: true });
		server = await startServer(port, copy, data);

		// What the hourly check (and the browser on navigations) does.
		await alice.page.evaluate(async () => (await navigator.serviceWorker.getRegistration())?.update());
		await expect(alice.page.getByTestId('update-prompt')).toBeVisible();
		await expect(alice.page.getByTestId('update-prompt')).toContainText('New version');

		// A send waiting in the outbox survives taking the update.
		await alice.context.setOffline(true);
		await send(alice.page, 'queued across the update');
		await expect(bodies(alice.page)).toHaveText(['queued across the update']);
		await Promise.all([
			alice.page.waitForEvent('load'),
			alice.page.getByTestId('update-prompt').getByRole('button', { name: 'Reload' }).click()
		]);
		await expect(alice.page.getByTestId('update-prompt')).toHaveCount(0);
		await expect(bodies(alice.page)).toHaveText(['queued across the update']);
		expect(await alice.page.evaluate(async () => (await navigator.serviceWorker.getRegistration())?.waiting ?? null)).toBeNull();
		await alice.context.setOffline(false);
		await expect.poll(() => serverBodies(bob, id)).toEqual(['queued across the update']);
		await alice.context.close();
		await bob.context.close();
	} finally {
		await stopServer(server);
		await rm(copy, { recursive: true, force: true });
		await rm(data, { recursive: true, force: true });
	}
});
