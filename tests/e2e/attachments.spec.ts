/**
 * Attachments (issue 17) in a real browser, between two people in two browser contexts: picking,
 * sending and downloading, the viewer, sending offline, paste and drop, and axe.
 */
import AxeBuilder from '@axe-core/playwright';
import { expect, test, type Page } from '@playwright/test';
import sharp from 'sharp';
import { conversationWith, messageWith, send, signUp, waitLive, type Person } from './helpers';

async function png(width: number, height: number, color: { r: number; g: number; b: number }): Promise<Buffer> {
	return sharp({ create: { width, height, channels: 3, background: color } })
		.png()
		.toBuffer();
}

const PDF = Buffer.from(
	'%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n'
);

async function pair(browser: Parameters<typeof signUp>[0]) {
	const a = await signUp(browser, 'att_a');
	const b = await signUp(browser, 'att_b');
	const id = await conversationWith(a, b);
	return { a, b, id };
}

async function openChat(person: Person, conversationId: string) {
	await person.page.goto(`/c/${conversationId}`);
	await waitLive(person.page);
}

function tray(page: Page) {
	return page.getByTestId('file-tray');
}

async function attach(page: Page, files: { name: string; mimeType: string; buffer: Buffer }[]) {
	await page.getByTestId('file-input').setInputFiles(files);
	for (const f of files) await expect(tray(page).getByText(f.name, { exact: true })).toBeVisible();
}

/** The thumbnail's box is sized from width and height before (and whether or not) the picture loads. */
async function expectSizedBox(page: Page, message: ReturnType<typeof messageWith>, width: number, height: number) {
	const image = message.getByTestId('attachment-image');
	await expect(image).toBeVisible();
	const img = image.locator('img');
	await expect(img).toHaveAttribute('width', String(width));
	await expect(img).toHaveAttribute('height', String(height));
	// Polled: the bubble swaps the local copy for the server's once the file is stored.
	await expect
		.poll(async () => {
			const box = await image.boundingBox();
			return box !== null && box.width > 0 && Math.abs(box.width / box.height - width / height) < 0.05;
		})
		.toBe(true);
}

test('an image and a PDF with a caption: both see them, and B downloads the PDF byte for byte', async ({ browser }) => {
	const { a, b, id } = await pair(browser);
	await openChat(a, id);
	await openChat(b, id);
	// Each file once: a service worker's flush request (an `online` event) once started it again.
	const uploads: string[] = [];
	a.page.on('request', (request) => {
		const path = new URL(request.url()).pathname;
		if (path.startsWith('/api/attachments') && request.method() !== 'GET')
			uploads.push(`${request.method()} ${path.replace(/[0-9a-f-]{36}/, ':id')}`);
	});
	const image = await png(40, 20, { r: 200, g: 30, b: 30 });
	await attach(a.page, [
		{ name: 'red.png', mimeType: 'image/png', buffer: image },
		{ name: 'notes.pdf', mimeType: 'application/pdf', buffer: PDF }
	]);
	await send(a.page, 'caption with files');
	await expect(tray(a.page)).toBeHidden();

	for (const page of [a.page, b.page]) {
		const message = messageWith(page, 'caption with files');
		await expectSizedBox(page, message, 40, 20);
		const card = message.getByTestId('attachment-file');
		await expect(card).toContainText('notes.pdf');
		await expect(card).toContainText(`${PDF.length} bytes`);
		await expect(message.getByTestId('upload-status')).toHaveCount(0);
	}
	expect(uploads.sort()).toEqual([
		'PATCH /api/attachments/uploads/:id',
		'PATCH /api/attachments/uploads/:id',
		'POST /api/attachments/uploads',
		'POST /api/attachments/uploads'
	]);
	// The thumbnail the peer sees comes from the server and loads.
	const thumb = messageWith(b.page, 'caption with files').getByTestId('attachment-image').locator('img');
	await expect.poll(() => thumb.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth > 0)).toBe(true);

	const link = messageWith(b.page, 'caption with files').getByTestId('attachment-download');
	const [download] = await Promise.all([b.page.waitForEvent('download'), link.click()]);
	expect(download.suggestedFilename()).toBe('notes.pdf');
	const path = await download.path();
	const { readFile } = await import('node:fs/promises');
	expect(Buffer.compare(await readFile(path), PDF)).toBe(0);
	await a.context.close();
	await b.context.close();
});

test('a file being sent is not started again when the page hears `online` (a service worker flush) meanwhile', async ({ browser }) => {
	const { a, b, id } = await pair(browser);
	await openChat(a, id);
	await openChat(b, id);
	const requests: string[] = [];
	a.page.on('request', (request) => {
		const path = new URL(request.url()).pathname;
		if (path.startsWith('/api/attachments')) requests.push(`${request.method()} ${path.replace(/[0-9a-f-]{36}/, ':id')}`);
	});
	// The bytes are held on their way until the page has heard `online` again.
	let release!: () => void;
	const held = new Promise<void>((resolve) => (release = resolve));
	let arrived!: () => void;
	const sending = new Promise<void>((resolve) => (arrived = resolve));
	await a.page.route('**/api/attachments/uploads/*', async (route) => {
		if (route.request().method() === 'PATCH') {
			arrived();
			await held;
		}
		await route.continue().catch(() => {});
	});
	await attach(a.page, [{ name: 'once.png', mimeType: 'image/png', buffer: await png(30, 30, { r: 0, g: 90, b: 90 }) }]);
	await send(a.page, 'sent once');
	await sending;
	await a.page.evaluate(() => dispatchEvent(new Event('online')));
	release();
	await expectSizedBox(b.page, messageWith(b.page, 'sent once'), 30, 30);
	expect(requests.filter((r) => !r.startsWith('GET /api/attachments/:id'))).toEqual([
		'POST /api/attachments/uploads',
		'PATCH /api/attachments/uploads/:id'
	]);
	await a.context.close();
	await b.context.close();
});

test('the viewer: full size, Escape closes and focus returns, ArrowRight moves on', async ({ browser }) => {
	const { a, b, id } = await pair(browser);
	await openChat(a, id);
	await openChat(b, id);
	await attach(a.page, [
		{ name: 'one.png', mimeType: 'image/png', buffer: await png(30, 30, { r: 0, g: 120, b: 0 }) },
		{ name: 'two.png', mimeType: 'image/png', buffer: await png(50, 25, { r: 0, g: 0, b: 160 }) }
	]);
	await send(a.page, 'two pictures');
	const message = messageWith(b.page, 'two pictures');
	const first = message.getByRole('button', { name: 'Open picture one.png' });
	await expect(first).toBeVisible();
	await first.click();
	const viewer = b.page.getByTestId('attachment-viewer');
	await expect(viewer).toBeVisible();
	await expect(viewer.getByRole('heading')).toContainText('one.png');
	const full = viewer.getByRole('img', { name: 'one.png' });
	await expect(full).toBeVisible();
	await expect.poll(() => full.evaluate((img: HTMLImageElement) => img.naturalWidth)).toBe(30);
	await b.page.keyboard.press('ArrowRight');
	await expect(viewer.getByRole('heading')).toContainText('two.png');
	await expect.poll(() => viewer.getByRole('img', { name: 'two.png' }).evaluate((img: HTMLImageElement) => img.naturalWidth)).toBe(50);
	await b.page.keyboard.press('Escape');
	await expect(viewer).toBeHidden();
	await expect(first).toBeFocused();
	await a.context.close();
	await b.context.close();
});

test('offline: the message shows at once from the local file; online, the upload goes and B receives it', async ({ browser }) => {
	const { a, b, id } = await pair(browser);
	await openChat(a, id);
	await openChat(b, id);
	await a.context.setOffline(true);
	await expect(a.page.getByTestId('connection')).not.toHaveAttribute('data-state', 'live');
	await attach(a.page, [{ name: 'offline.png', mimeType: 'image/png', buffer: await png(24, 36, { r: 90, g: 90, b: 0 }) }]);
	await send(a.page, 'sent while offline');
	const mine = messageWith(a.page, 'sent while offline');
	await expectSizedBox(a.page, mine, 24, 36);
	const local = mine.getByTestId('attachment-image').locator('img');
	await expect(local).toHaveAttribute('src', /^blob:/);
	await expect.poll(() => local.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth)).toBe(24);
	await expect(mine.getByTestId('upload-status')).toContainText('Waiting to upload');
	await expect(mine.getByTestId('cancel-upload')).toBeVisible();
	await expect(messageWith(b.page, 'sent while offline')).toHaveCount(0);

	await a.context.setOffline(false);
	const theirs = messageWith(b.page, 'sent while offline');
	await expectSizedBox(b.page, theirs, 24, 36);
	await expect(mine.getByTestId('upload-status')).toHaveCount(0);
	const thumb = theirs.getByTestId('attachment-image').locator('img');
	await expect.poll(() => thumb.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth > 0)).toBe(true);
	await a.context.close();
	await b.context.close();
});

test('paste into the composer and drop on the chat both fill the tray; ✕ removes one', async ({ browser }) => {
	const { a, b, id } = await pair(browser);
	await openChat(a, id);
	const box = a.page.getByLabel('Message', { exact: true });
	await box.focus();
	await box.evaluate((el) => {
		const data = new DataTransfer();
		data.items.add(new File(['pasted text'], 'pasted.txt', { type: 'text/plain' }));
		el.dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }));
	});
	await expect(tray(a.page).getByText('pasted.txt', { exact: true })).toBeVisible();

	const main = a.page.locator('main[aria-labelledby="conversation-title"]');
	await main.evaluate((el) => {
		const data = new DataTransfer();
		data.items.add(new File(['dropped text'], 'dropped.txt', { type: 'text/plain' }));
		el.dispatchEvent(new DragEvent('dragenter', { dataTransfer: data, bubbles: true, cancelable: true }));
	});
	await expect(a.page.getByTestId('drop-target')).toBeVisible();
	await main.evaluate((el) => {
		const data = new DataTransfer();
		data.items.add(new File(['dropped text'], 'dropped.txt', { type: 'text/plain' }));
		el.dispatchEvent(new DragEvent('drop', { dataTransfer: data, bubbles: true, cancelable: true }));
	});
	await expect(a.page.getByTestId('drop-target')).toBeHidden();
	await expect(tray(a.page).getByText('dropped.txt', { exact: true })).toBeVisible();
	await expect(tray(a.page).getByRole('listitem')).toHaveCount(2);

	await tray(a.page).getByRole('button', { name: 'Remove pasted.txt' }).click();
	await expect(tray(a.page).getByRole('listitem')).toHaveCount(1);
	await send(a.page, 'with a dropped file');
	await expect(messageWith(a.page, 'with a dropped file').getByTestId('attachment-file')).toContainText('dropped.txt');
	await a.context.close();
	await b.context.close();
});

test('uploading: a file shows its progress while its request runs, and ✕ stops it; the message goes without it', async ({ browser }) => {
	const { a, b, id } = await pair(browser);
	await openChat(a, id);
	await openChat(b, id);
	// The file's own bytes name it, so whichever request carries it (its name or its content) is held.
	const held: { release?: () => void } = {};
	const reachedServer = new Promise<void>((reached) =>
		a.page.route('**/api/attachments**', async (route) => {
			if (!route.request().postDataBuffer()?.includes('slow.txt')) return route.continue();
			reached();
			await new Promise<void>((release) => (held.release = release));
			// Aborted by the page when the file was taken off: nothing is left to continue.
			await route.continue().catch(() => {});
		})
	);
	await attach(a.page, [
		{ name: 'slow.txt', mimeType: 'text/plain', buffer: Buffer.from('slow.txt, held by the test') },
		{ name: 'quick.txt', mimeType: 'text/plain', buffer: Buffer.from('quick one') }
	]);
	await send(a.page, 'two files, one stopped');
	const mine = messageWith(a.page, 'two files, one stopped');
	await reachedServer;
	const slow = mine.getByTestId('attachment-file').filter({ hasText: 'slow.txt' });
	await expect(slow.getByTestId('upload-status')).toContainText(/Uploading, \d+%/);
	await expect(slow.getByRole('progressbar', { name: 'Uploading slow.txt' })).toBeVisible();
	// One file at a time per conversation: the second waits its turn.
	await expect(mine.getByTestId('attachment-file').filter({ hasText: 'quick.txt' }).getByTestId('upload-status')).toContainText(
		'Waiting to upload'
	);
	await expect(messageWith(b.page, 'two files, one stopped')).toHaveCount(0);

	await mine.getByRole('button', { name: 'Remove slow.txt' }).click();
	held.release?.();
	const theirs = messageWith(b.page, 'two files, one stopped');
	await expect(theirs.getByTestId('attachment-download')).toHaveText(/quick\.txt/);
	await expect(theirs.getByTestId('attachment-file')).toHaveCount(1);
	await expect(mine.getByTestId('attachment-file')).toHaveCount(1);
	await expect(mine.getByTestId('upload-status')).toHaveCount(0);
	await a.context.close();
	await b.context.close();
});

test('offline: a file taken off the unsent message with its ✕ is not sent', async ({ browser }) => {
	const { a, b, id } = await pair(browser);
	await openChat(a, id);
	await openChat(b, id);
	await a.context.setOffline(true);
	await expect(a.page.getByTestId('connection')).not.toHaveAttribute('data-state', 'live');
	await attach(a.page, [
		{ name: 'keep.txt', mimeType: 'text/plain', buffer: Buffer.from('keep me') },
		{ name: 'drop.txt', mimeType: 'text/plain', buffer: Buffer.from('drop me') }
	]);
	await send(a.page, 'one of two');
	const mine = messageWith(a.page, 'one of two');
	await expect(mine.getByTestId('attachment-file')).toHaveCount(2);
	await mine.getByRole('button', { name: 'Remove drop.txt' }).click();
	await expect(mine.getByTestId('attachment-file')).toHaveCount(1);
	await a.context.setOffline(false);
	const theirs = messageWith(b.page, 'one of two');
	await expect(theirs.getByTestId('attachment-download')).toHaveText(/keep\.txt/);
	await expect(theirs.getByTestId('attachment-file')).toHaveCount(1);
	await a.context.close();
	await b.context.close();
});

test('the thumbnail box has its size before the thumbnail loads', async ({ browser }) => {
	const { a, b, id } = await pair(browser);
	let release!: () => void;
	const held = new Promise<void>((resolve) => (release = resolve));
	let asked = false;
	await b.page.route('**/api/attachments/*/thumbnail', async (route) => {
		asked = true;
		await held;
		await route.continue().catch(() => {});
	});
	await openChat(a, id);
	await openChat(b, id);
	await attach(a.page, [{ name: 'wide.png', mimeType: 'image/png', buffer: await png(200, 100, { r: 1, g: 2, b: 3 }) }]);
	await send(a.page, 'not loaded yet');
	const image = messageWith(b.page, 'not loaded yet').getByTestId('attachment-image');
	await expect(image).toBeVisible();
	await expect.poll(() => asked).toBe(true);
	expect(await image.locator('img').evaluate((img: HTMLImageElement) => img.complete)).toBe(false);
	const box = await image.boundingBox();
	expect(box).not.toBeNull();
	expect(box!.width).toBeGreaterThan(40);
	expect(Math.abs(box!.width / box!.height - 2)).toBeLessThan(0.05);
	release();
	await expect.poll(() => image.locator('img').evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth > 0)).toBe(true);
	// Loading it does not resize the box (the list does not jump).
	const after = await image.boundingBox();
	expect(after && { width: after.width, height: after.height }).toEqual({ width: box!.width, height: box!.height });
	await a.context.close();
	await b.context.close();
});

async function axe(page: Page, what: string) {
	const result = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']).analyze();
	const bad = result.violations
		.filter((v) => v.impact === 'serious' || v.impact === 'critical')
		.map((v) => ({ id: v.id, nodes: v.nodes.map((n) => n.target.join(' ')) }));
	expect(bad, `${what}: serious or critical axe violations`).toEqual([]);
}

test('axe: the tray filled, and the viewer open', async ({ browser }) => {
	const { a, b, id } = await pair(browser);
	await openChat(a, id);
	await attach(a.page, [
		{ name: 'pic.png', mimeType: 'image/png', buffer: await png(32, 32, { r: 10, g: 10, b: 10 }) },
		{ name: 'doc.pdf', mimeType: 'application/pdf', buffer: PDF }
	]);
	await axe(a.page, 'tray filled');
	await send(a.page, 'for axe');
	const open = messageWith(a.page, 'for axe').getByRole('button', { name: 'Open picture pic.png' });
	await expect(messageWith(a.page, 'for axe').getByTestId('upload-status')).toHaveCount(0);
	await open.click();
	await expect(a.page.getByTestId('attachment-viewer')).toBeVisible();
	await expect(a.page.getByTestId('attachment-viewer').getByRole('img', { name: 'pic.png' })).toBeVisible();
	await axe(a.page, 'viewer open');
	await a.context.close();
	await b.context.close();
});
