import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createPostgresDatabase } from '../../../../tests/integration/harness';
import { openDatabase, type Database } from '../db';
import { linkPreviews } from '../db/schema';
import type { FetchedPreview } from './fetch-preview';
import { PreviewFetchError } from './guard';
import { imageProxyPath, previewKey, PreviewStore, PreviewsBusy, PreviewsLimited } from './store';

const engines = process.env.TEST_DATABASE_URL ? (['pglite', 'postgres'] as const) : (['pglite'] as const);

describe.each(engines)('PreviewStore [%s]', (engine) => {
	let database: Database;
	let clock = 1_000_000;
	const options = { ttlMs: 10_000, failureTtlMs: 1_000, maxFetches: 3, now: () => clock };

	beforeAll(async () => {
		database = await openDatabase(engine === 'postgres' ? await createPostgresDatabase() : 'memory://', '');
	});
	afterAll(async () => {
		await database?.close();
	});

	const page = (url: string, title = 'Title'): FetchedPreview => ({
		pageUrl: url,
		title,
		description: 'About',
		imageUrl: 'https://cdn.example/a.png',
		siteName: 'Site'
	});

	it('fetches a page once per TTL, and again after it', async () => {
		const fetchPage = vi.fn(async (url: string) => page(url));
		const store = new PreviewStore(database.db, fetchPage, options);
		const url = 'https://a.example/one#section';
		const expected = {
			url: 'https://a.example/one',
			title: 'Title',
			description: 'About',
			siteName: 'Site',
			imageUrl: imageProxyPath('https://a.example/one')
		};
		expect(await store.get(url)).toEqual(expected);
		expect(await store.get('https://A.example/one')).toEqual(expected);
		expect(fetchPage).toHaveBeenCalledTimes(1);
		// Another process (a fresh store) reads the same cache.
		expect(await new PreviewStore(database.db, fetchPage, options).get(url)).toEqual(expected);
		expect(fetchPage).toHaveBeenCalledTimes(1);
		clock += options.ttlMs;
		fetchPage.mockImplementationOnce(async (u) => page(u, 'Changed'));
		expect((await store.get(url))?.title).toBe('Changed');
		expect(fetchPage).toHaveBeenCalledTimes(2);
	});

	it('remembers a failure for the failure TTL', async () => {
		const fetchPage = vi.fn(async (): Promise<FetchedPreview> => {
			throw new PreviewFetchError('refused', 'private');
		});
		const store = new PreviewStore(database.db, fetchPage, options);
		const url = 'https://b.example/';
		expect(await store.get(url)).toBeNull();
		expect(await store.get(url)).toBeNull();
		expect(fetchPage).toHaveBeenCalledTimes(1);
		const [row] = await database.db.select().from(linkPreviews).where(eq(linkPreviews.url, url));
		expect(row).toMatchObject({ status: 'failed', reason: 'refused', title: null });
		expect(await store.imageOf(url)).toBeNull();
		clock += options.failureTtlMs;
		fetchPage.mockImplementationOnce(async () => page(url));
		expect((await store.get(url))?.title).toBe('Title');
		expect(await store.imageOf(url)).toBe('https://cdn.example/a.png');
	});

	it('counts a page with nothing to show as a failure', async () => {
		const store = new PreviewStore(
			database.db,
			async (url) => ({ pageUrl: url, title: null, description: null, imageUrl: null, siteName: 'S' }),
			options
		);
		expect(await store.get('https://empty.example/')).toBeNull();
	});

	it('shares one fetch between concurrent requests for a URL', async () => {
		let release!: () => void;
		const gate = new Promise<void>((resolve) => (release = resolve));
		const fetchPage = vi.fn(async (url: string) => {
			await gate;
			return page(url);
		});
		const store = new PreviewStore(database.db, fetchPage, options);
		const all = Promise.all(Array.from({ length: 5 }, () => store.get('https://c.example/')));
		await vi.waitFor(() => expect(fetchPage).toHaveBeenCalled());
		release();
		const results = await all;
		expect(fetchPage).toHaveBeenCalledTimes(1);
		expect(new Set(results.map((r) => r?.title))).toEqual(new Set(['Title']));
	});

	it('is busy past maxFetches pages at once, and takes new ones once a slot is free', async () => {
		let release!: () => void;
		const gate = new Promise<void>((resolve) => (release = resolve));
		const fetchPage = vi.fn(async (url: string) => {
			await gate;
			return page(url);
		});
		const store = new PreviewStore(database.db, fetchPage, options);
		const stale = 'https://busy.example/stale';
		expect((await new PreviewStore(database.db, async (url) => page(url), options).get(stale))?.title).toBe('Title');
		clock += options.ttlMs;
		const held = ['1', '2', '3'].map((n) => store.get(`https://busy.example/${n}`));
		await vi.waitFor(() => expect(fetchPage).toHaveBeenCalledTimes(3));
		await expect(store.get('https://busy.example/4')).rejects.toBeInstanceOf(PreviewsBusy);
		// What was cached, even past its TTL, is served rather than nothing.
		expect((await store.get(stale))?.title).toBe('Title');
		release();
		await Promise.all(held);
		expect((await store.get('https://busy.example/4'))?.title).toBe('Title');
	});

	it('asks admit only before a fetch of its own: not for a fresh cached preview; refused, a stale one is served', async () => {
		const fetchPage = vi.fn(async (url: string) => page(url));
		const store = new PreviewStore(database.db, fetchPage, options);
		const admit = vi.fn(() => 0);
		await store.get('https://limit.example/1', admit);
		await store.get('https://limit.example/1', admit);
		expect(admit).toHaveBeenCalledTimes(1);
		const refuse = vi.fn(() => 7);
		await expect(store.get('https://limit.example/2', refuse)).rejects.toEqual(new PreviewsLimited(7));
		expect(fetchPage).toHaveBeenCalledTimes(1);
		clock += options.ttlMs;
		expect((await store.get('https://limit.example/1', refuse))?.url).toBe('https://limit.example/1');
		expect(fetchPage).toHaveBeenCalledTimes(1);
	});

	it('fetches nothing for what is not an http(s) URL, and lets bugs through', async () => {
		const fetchPage = vi.fn(async (url: string) => page(url));
		const store = new PreviewStore(database.db, fetchPage, options);
		for (const url of ['', 'javascript:alert(1)', 'ftp://x.example/', 'https://x.example/' + 'a'.repeat(3000)]) {
			expect(await store.get(url)).toBeNull();
			expect(await store.imageOf(url)).toBeNull();
		}
		expect(fetchPage).not.toHaveBeenCalled();
		const broken = new PreviewStore(
			database.db,
			async () => {
				throw new TypeError('a bug');
			},
			options
		);
		await expect(broken.get('https://d.example/')).rejects.toThrow('a bug');
	});
});

describe('previewKey', () => {
	it('normalises as the URL parser does and drops the fragment', () => {
		expect(previewKey('HTTPS://Example.COM:443/a/../b?q=1#x')).toBe('https://example.com/b?q=1');
		expect(previewKey('mailto:a@b.example')).toBeNull();
	});
});
