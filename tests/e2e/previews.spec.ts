/**
 * Link previews in a real browser, between two people: a link sent by one shows as a card to both,
 * its picture through the server's image proxy. The page comes from a local site that the SSRF
 * guard lets through only because playwright.config.ts names it in PREVIEW_ALLOW_PRIVATE_HOSTS;
 * neither browser ever contacts that site.
 */
import http from 'node:http';
import { expect, test } from '@playwright/test';
import sharp from 'sharp';
import { E2E_SITE_PORT } from '../../playwright.config';
import { conversationWith, messageWith, send, signUp, waitLive } from './helpers';

const SITE = `http://127.0.0.1:${E2E_SITE_PORT}`;
let site: http.Server;

test.beforeAll(async () => {
	const cover = await sharp({ create: { width: 120, height: 63, channels: 3, background: { r: 20, g: 90, b: 200 } } })
		.png()
		.toBuffer();
	site = http.createServer((req, res) => {
		if (req.url === '/cover.png') {
			res.writeHead(200, { 'content-type': 'image/png', 'content-length': cover.length }).end(cover);
		} else {
			res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(`<html><head>
				<meta property="og:title" content="The lighthouse keeper">
				<meta property="og:description" content="A long story about a lighthouse, its keeper and the sea.">
				<meta property="og:site_name" content="Harbour News">
				<meta property="og:image" content="/cover.png"></head><body></body></html>`);
		}
	});
	await new Promise<void>((resolve) => site.listen(E2E_SITE_PORT, '127.0.0.1', resolve));
});

test.afterAll(async () => {
	site.closeAllConnections();
	await new Promise((resolve) => site.close(resolve));
});

test('a link shows as a preview card to both people, its picture through the proxy', async ({ browser }) => {
	const a = await signUp(browser, 'prev_a');
	const b = await signUp(browser, 'prev_b');
	const id = await conversationWith(a, b);
	const contacted: string[] = [];
	for (const person of [a, b]) {
		person.page.on('request', (request) => {
			if (request.url().startsWith(SITE)) contacted.push(request.url());
		});
		await person.page.goto(`/c/${id}`);
		await waitLive(person.page);
	}
	const url = `${SITE}/story-${Date.now()}`;
	await send(a.page, `have a look: ${url}`);

	for (const page of [a.page, b.page]) {
		const card = messageWith(page, 'have a look').getByTestId('link-preview');
		await expect(card).toBeVisible();
		await expect(card).toHaveAttribute('href', url);
		await expect(card).toHaveAttribute('target', '_blank');
		await expect(card).toHaveAttribute('rel', 'noopener noreferrer');
		await expect(card.getByTestId('link-preview-site')).toHaveText('Harbour News');
		await expect(card.getByTestId('link-preview-title')).toHaveText('The lighthouse keeper');
		await expect(card.getByTestId('link-preview-description')).toContainText('its keeper and the sea');
		const image = card.getByTestId('link-preview-image');
		await expect(image).toHaveAttribute('src', `/api/previews/image?url=${encodeURIComponent(url)}`);
		await expect.poll(() => image.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth === 120)).toBe(true);
		// The box has the card's width and its fixed shape, loaded or not.
		const box = await image.locator('..').boundingBox();
		expect(box && Math.abs(box.width / box.height - 1.91)).toBeLessThan(0.05);
	}
	expect(contacted).toEqual([]);
	await a.context.close();
	await b.context.close();
});
