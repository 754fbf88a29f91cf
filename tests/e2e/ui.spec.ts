/**
 * The polished UI: accessibility (axe, keyboard only), a 10,000-message history that stays a
 * window of rows, search that jumps to a message, and screenshots for review.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import AxeBuilder from '@axe-core/playwright';
import { expect, test, type Browser, type Page } from '@playwright/test';
import { WebSocket } from 'ws';
import { E2E_ORIGIN } from '../../playwright.config';
import { conversationWith, seed, send, signUp, waitLive, type Person } from './helpers';

const SHOTS = 'test-results/screenshots';
/** Messages in the long-history test (smaller only to debug it). */
const LONG = Number(process.env.UI_LONG_COUNT ?? 10_000);

/**
 * Thousands of messages in seconds: one WebSocket, sends pipelined in waves (the server's group
 * commit stores each wave in a few transactions). Senders are split over many clientIds so no
 * one client's run passes the sequence buffer's 256 held sends.
 */
async function seedOverSocket(person: Person, conversationId: string, total: number, body: (seq: number) => string) {
	const cookie = (await person.context.cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
	const socket = new WebSocket(`${E2E_ORIGIN.replace('http', 'ws')}/ws`, { headers: { cookie, origin: E2E_ORIGIN } });
	await new Promise((resolve, reject) => {
		socket.once('open', resolve);
		socket.once('error', reject);
	});
	const WAVE = 2_000;
	const PER_CLIENT = 200;
	try {
		for (let start = 0; start < total; start += WAVE) {
			const count = Math.min(WAVE, total - start);
			const waiting = new Set<string>();
			const acked = new Promise<void>((resolve, reject) => {
				const onMessage = (data: Buffer) => {
					const frame = JSON.parse(String(data)) as { type: string; id?: string; code?: string };
					if (frame.type === 'error') reject(new Error(`send refused: ${frame.code}`));
					if (frame.type === 'ack' && frame.id && waiting.delete(frame.id) && waiting.size === 0) {
						socket.off('message', onMessage);
						resolve();
					}
				};
				socket.on('message', onMessage);
			});
			for (let c = 0; c < count / PER_CLIENT; c++) {
				const clientId = crypto.randomUUID();
				for (let i = 0; i < PER_CLIENT; i++) {
					const id = crypto.randomUUID();
					waiting.add(id);
					const n = start + c * PER_CLIENT + i + 1;
					socket.send(JSON.stringify({ type: 'send', id, conversationId, clientId, clientSeq: i + 1, body: body(n) }));
				}
			}
			await acked;
		}
	} finally {
		socket.close();
	}
}

async function axe(page: Page, what: string) {
	const result = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']).analyze();
	const bad = result.violations
		.filter((v) => v.impact === 'serious' || v.impact === 'critical')
		.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
	expect(bad, `${what}: serious or critical axe violations`).toEqual([]);
}

async function anonymousPage(browser: Browser, options: { viewport?: { width: number; height: number } } = {}) {
	const context = await browser.newContext({ baseURL: E2E_ORIGIN, ...options });
	return context.newPage();
}

async function closeAll(...people: Person[]) {
	for (const p of people) await p.context.close();
}

for (const colorScheme of ['light', 'dark'] as const) {
	test(`axe finds no serious or critical violations (${colorScheme})`, async ({ browser }) => {
		test.setTimeout(120_000);
		const alice = await signUp(browser, 'alice');
		const bob = await signUp(browser, 'bob');
		const id = await conversationWith(alice, bob);
		await seed(bob.context.request, id, ['Hi Alice! 👋', 'Are we still on for lunch?'], 1);
		await alice.page.emulateMedia({ colorScheme });

		const anonymous = await anonymousPage(browser);
		await anonymous.emulateMedia({ colorScheme });
		await anonymous.goto('/login');
		await axe(anonymous, 'login');
		await anonymous.goto('/register');
		await axe(anonymous, 'register');
		await anonymous.context().close();

		await alice.page.goto('/');
		await waitLive(alice.page);
		await expect(alice.page.getByTestId('conversation')).toHaveCount(1);
		await axe(alice.page, 'conversation list');

		await alice.page.goto(`/c/${id}`);
		await waitLive(alice.page);
		await send(alice.page, 'Yes! See you at noon 🍜');
		await expect(alice.page.locator('[data-mine="true"]').last()).toHaveAttribute('data-status', /sent|delivered|read/);
		await axe(alice.page, 'conversation');

		await alice.page.goto('/search');
		await axe(alice.page, 'search');
		await closeAll(alice, bob);
	});
}

test('keyboard only: open a conversation, send a message, switch conversations', async ({ browser }) => {
	const alice = await signUp(browser, 'alice');
	const bob = await signUp(browser, 'bob');
	const carol = await signUp(browser, 'carol');
	const withBob = await conversationWith(alice, bob);
	const withCarol = await conversationWith(alice, carol);
	const page = alice.page;
	await page.goto('/');
	await waitLive(page);

	/** Presses Tab (or Shift+Tab) until the focused element matches, as a keyboard user would. */
	async function tabTo(selector: string, key = 'Tab') {
		for (let i = 0; i < 40; i++) {
			await page.keyboard.press(key);
			if (await page.evaluate((s) => document.activeElement?.matches(s) ?? false, selector)) return;
		}
		throw new Error(`focus never reached ${selector}`);
	}

	await tabTo(`a[href="/c/${withBob}"]`);
	await expect(page.locator(':focus')).toHaveAttribute('href', `/c/${withBob}`);
	await page.keyboard.press('Enter');
	await expect(page).toHaveURL(new RegExp(`/c/${withBob}$`));
	await expect(page.getByRole('heading', { name: bob.username })).toBeVisible();

	await tabTo('#composer');
	await page.keyboard.type('Sent with the keyboard alone');
	await page.keyboard.press('Shift+Enter');
	await page.keyboard.type('second line');
	await page.keyboard.press('Enter');
	const mine = page.getByTestId('message').filter({ hasText: 'Sent with the keyboard alone' });
	await expect(mine.getByTestId('message-body')).toHaveText('Sent with the keyboard alone\nsecond line');
	await expect(mine).toHaveAttribute('data-status', /sent|delivered|read/);

	await tabTo(`a[href="/c/${withCarol}"]`, 'Shift+Tab');
	await page.keyboard.press('Enter');
	await expect(page).toHaveURL(new RegExp(`/c/${withCarol}$`));
	await expect(page.getByRole('heading', { name: carol.username })).toBeVisible();
	await closeAll(alice, bob, carol);
});

test('a 10,000-message conversation scrolls to the top with only a window of rows in the DOM', async ({ browser }) => {
	test.setTimeout(300_000);
	const alice = await signUp(browser, 'alice');
	const bob = await signUp(browser, 'bob');
	const id = await conversationWith(alice, bob);
	const started = Date.now();
	await seedOverSocket(alice, id, LONG, (n) => `long history ${n}${n % 7 === 0 ? '\nwith a second line' : ''}`);
	console.log(`seeded 10,000 messages in ${Date.now() - started} ms`);

	const page = bob.page;
	page.on('console', (m) => (m.type() === 'warning' || m.type() === 'error') && console.log(`browser ${m.type()}: ${m.text()}`));
	await page.goto(`/c/${id}`);
	await waitLive(page);
	const list = page.getByTestId('messages');
	const scroller = page.getByTestId('messages-scroller');
	await expect(page.locator(`[data-testid="message"][data-seq="${LONG}"]`)).toBeVisible();

	let most = 0;
	const scrolling = Date.now();
	await expect(async () => {
		const rendered = await scroller.evaluate((el) => {
			el.scrollTop = 0;
			return el.querySelectorAll('[data-testid="message"]').length;
		});
		most = Math.max(most, rendered);
		const count = await list.getAttribute('data-count');
		console.log(`holding ${count} messages, ${rendered} rendered`);
		await expect(page.locator('[data-testid="message"][data-seq="1"]')).toBeVisible({ timeout: 2_000 });
	}).toPass({ timeout: 240_000, intervals: [0] });
	console.log(`scrolled back through 10,000 messages in ${Date.now() - scrolling} ms; at most ${most} message rows in the DOM`);

	await expect(list).toHaveAttribute('data-count', String(LONG));
	await expect(page.getByText('This is the start of your conversation')).toBeVisible();
	const rendered = await page.getByTestId('message').count();
	expect(rendered).toBeGreaterThan(0);
	expect(rendered).toBeLessThan(100);
	expect(most).toBeLessThan(100);
	await closeAll(alice, bob);
});

test('search finds a message and jumps to it, highlighted', async ({ browser }) => {
	const alice = await signUp(browser, 'alice');
	const bob = await signUp(browser, 'bob');
	const id = await conversationWith(alice, bob);
	const bodies = Array.from({ length: 400 }, (_, i) =>
		i + 1 === 37 ? 'The zebracorn meeting moved to Thursday' : `filler message ${i + 1}`
	);
	await seed(alice.context.request, id, bodies, 1);

	const page = bob.page;
	await page.goto('/');
	await waitLive(page);
	await page.getByRole('link', { name: 'Search messages' }).click();
	const box = page.getByRole('searchbox', { name: 'Search messages' });
	await box.fill('zebra thurs');
	await box.press('Enter');
	const result = page.getByTestId('search-result');
	await expect(result).toHaveCount(1);
	await expect(result).toContainText('zebracorn meeting');
	await result.click();
	await expect(page).toHaveURL(new RegExp(`/c/${id}\\?at=37$`));
	const target = page.locator('[data-testid="message"][data-seq="37"]');
	await expect(target).toHaveAttribute('data-highlight', 'true');
	await expect(target).toBeInViewport();
	await expect(page.getByTestId('messages')).toHaveAttribute('data-count', /^\d+$/);
	await closeAll(alice, bob);
});

test('screenshots at phone and desktop sizes, light and dark', async ({ browser }) => {
	mkdirSync(SHOTS, { recursive: true });
	const alice = await signUp(browser, 'alice');
	const bob = await signUp(browser, 'bob');
	const carol = await signUp(browser, 'carol');
	const id = await conversationWith(alice, bob);
	const other = await conversationWith(carol, alice);
	await seed(bob.context.request, id, ['Morning! ☀️', 'Did you see the match last night?', 'That last-minute goal 🤯⚽️'], 1);
	await seed(carol.context.request, other, ['Can you send me the slides?'], 1);

	for (const [size, viewport] of [
		['phone', { width: 390, height: 844 }],
		['desktop', { width: 1280, height: 800 }]
	] as const) {
		for (const colorScheme of ['light', 'dark'] as const) {
			const page = alice.page;
			await page.setViewportSize(viewport);
			await page.emulateMedia({ colorScheme });
			await page.goto('/');
			await waitLive(page);
			await page.screenshot({ path: `${SHOTS}/${size}-${colorScheme}-list.png` });
			await page.goto(`/c/${id}`);
			await waitLive(page);
			if (size === 'phone' && colorScheme === 'light') {
				await send(page, 'Yes!! Unbelievable.\nStill can’t believe it 😄');
			}
			await expect(page.getByTestId('message').last()).toHaveAttribute('data-status', /sent|delivered|read/);
			await page.getByLabel('Message', { exact: true }).fill('Typing a reply…');
			await page.screenshot({ path: `${SHOTS}/${size}-${colorScheme}-conversation.png` });
			await page.getByLabel('Message', { exact: true }).fill('');
			await page.goto('/search?text=match');
			await expect(page.getByTestId('search-result')).toHaveCount(1);
			await page.screenshot({ path: `${SHOTS}/${size}-${colorScheme}-search.png` });
			const anonymous = await anonymousPage(browser, { viewport });
			await anonymous.emulateMedia({ colorScheme });
			await anonymous.goto('/login');
			await anonymous.screenshot({ path: `${SHOTS}/${size}-${colorScheme}-login.png` });
			await anonymous.context().close();
		}
	}
	await closeAll(alice, bob, carol);
});

/** Sizes of built client scripts, as served from `/_app/…`; gzip at level 9, each file alone. */
function scriptSizes(paths: Iterable<string>) {
	const files = [...paths].map((path) => {
		const body = readFileSync(`${process.env.BUILD_DIR ?? 'build'}/client${path}`);
		return { path, rawBytes: body.length, gzipBytes: gzipSync(body, { level: 9 }).length };
	});
	files.sort((a, b) => b.gzipBytes - a.gzipBytes);
	const sum = (key: 'rawBytes' | 'gzipBytes') => files.reduce((total, file) => total + file[key], 0);
	return { files: files.length, rawBytes: sum('rawBytes'), gzipBytes: sum('gzipBytes'), perFile: files };
}

const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;

test('initial JavaScript of the chat route, gzip', async ({ browser }) => {
	const alice = await signUp(browser, 'alice');
	const bob = await signUp(browser, 'bob');
	const id = await conversationWith(alice, bob);
	const loaded = new Set<string>();
	alice.page.on('response', (response) => {
		const url = new URL(response.url());
		if (url.pathname.startsWith('/_app/') && url.pathname.endsWith('.js')) loaded.add(url.pathname);
	});
	const response = await alice.page.goto(`/c/${id}`);
	// Initial: what the server's answer makes the browser fetch before the app can hydrate (Kit
	// names every static import of the route in its modulepreload Link header). The client with
	// Dexie, the formatter, the popovers, the emoji picker and the attachment viewer come after,
	// through dynamic import().
	const preloads = (await response?.headerValue('link')) ?? '';
	const initial = new Set([...preloads.matchAll(/<([^>]+\.js)>; rel="modulepreload"/g)].map(([, path]) => path));
	expect(initial.size).toBeGreaterThan(0);
	await waitLive(alice.page);
	for (const path of initial) expect(loaded, `${path} is named by the page but was not loaded`).toContain(path);
	const first = scriptSizes(initial);
	const live = scriptSizes(loaded);
	console.log(`initial JS for /c/[id]: ${first.files} files, ${kib(first.rawBytes)} raw, ${kib(first.gzipBytes)} gzip`);
	console.log(`JS loaded for /c/[id] until live: ${live.files} files, ${kib(live.rawBytes)} raw, ${kib(live.gzipBytes)} gzip`);
	const report = { route: '/c/[id]', ...first, untilLive: live };
	writeFileSync('test-results/js-size.json', JSON.stringify(report, null, 2));
	// Budgets, so growth is a decision rather than an accident: 80 KB (decimal, as issue 22 says)
	// before hydration, and everything the first visit fetches until the connection is live (a
	// few KiB more than before the split: each file is compressed alone).
	expect(first.gzipBytes).toBeLessThanOrEqual(80 * 1000);
	expect(live.gzipBytes).toBeLessThan(128 * 1024);
	await closeAll(alice, bob);
});
