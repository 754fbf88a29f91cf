/**
 * The cache of link previews (table link_previews): a page is fetched at most once per TTL, a
 * failure is remembered for a shorter while (so a dead or refused link is not fetched on every
 * message), and concurrent requests for the same URL in this process share one fetch.
 */
import { eq } from 'drizzle-orm';
import type { LinkPreview } from '$lib/types';
import type { Executor } from '../db';
import { linkPreviews } from '../db/schema';
import type { FetchedPreview } from './fetch-preview';
import { PreviewFetchError, previewUrl } from './guard';

export type { LinkPreview };

export interface StoreOptions {
	/** How long a fetched preview is served before the page is fetched again. */
	ttlMs: number;
	/** How long a failed fetch is remembered. */
	failureTtlMs: number;
	/** Pages fetched at once by this process; past it, `get` of an uncached URL is PreviewsBusy. */
	maxFetches: number;
	now?: () => number;
}

export const STORE_DEFAULTS: StoreOptions = { ttlMs: 24 * 60 * 60_000, failureTtlMs: 60 * 60_000, maxFetches: 16 };

/**
 * Every fetch slot is taken. Not cached, not the link's fault: ask again shortly. Bounds what a
 * flood of new links (each up to 1 MiB and 5 s) can make the server download at once.
 */
export class PreviewsBusy extends Error {
	name = 'PreviewsBusy';
}

/**
 * The asker may not make the server fetch another page for now (their per-user limit). A cached
 * preview is served all the same; this is only for a link that would need a fetch.
 */
export class PreviewsLimited extends Error {
	name = 'PreviewsLimited';
	constructor(readonly retryAfter: number) {
		super(`Too many new link previews; try again in ${retryAfter} seconds.`);
	}
}

/**
 * Asked before the store starts a fetch of its own (not for a fresh cached preview, nor to join a
 * fetch already running): 0 lets it fetch, else the seconds to wait (PreviewsLimited).
 */
export type Admit = () => number;

/** The longest URL worth a preview (and a primary key); longer ones are tracking junk. */
const MAX_URL_LENGTH = 2048;

/** The cache key of a link: the URL as the WHATWG parser writes it, without its fragment. */
export function previewKey(raw: string): string | null {
	try {
		const href = previewUrl(raw).href;
		return href.length <= MAX_URL_LENGTH ? href : null;
	} catch (error) {
		if (error instanceof PreviewFetchError) return null;
		throw error;
	}
}

export function imageProxyPath(url: string): string {
	return `/api/previews/image?url=${encodeURIComponent(url)}`;
}

type Row = typeof linkPreviews.$inferSelect;

function toPreview(row: Row): LinkPreview | null {
	if (row.status !== 'ok') return null;
	return {
		url: row.url,
		title: row.title,
		description: row.description,
		siteName: row.siteName,
		imageUrl: row.imageUrl ? imageProxyPath(row.url) : null
	};
}

export class PreviewStore {
	private readonly inFlight = new Map<string, Promise<Row>>();
	private readonly now: () => number;

	constructor(
		private readonly db: Executor,
		private readonly fetchPage: (url: string) => Promise<FetchedPreview>,
		private readonly options: StoreOptions = STORE_DEFAULTS
	) {
		this.now = options.now ?? Date.now;
	}

	/**
	 * The preview of `url`, fetched unless a fresh one (or a fresh failure) is cached; null when
	 * the page has none or cannot be fetched. Not an http(s) URL: null, and nothing is fetched.
	 * Throws PreviewsBusy when it would have to fetch, every slot is taken and nothing is cached,
	 * and PreviewsLimited when it would have to fetch and `admit` says no.
	 */
	async get(url: string, admit: Admit = () => 0): Promise<LinkPreview | null> {
		const key = previewKey(url);
		if (!key) return null;
		const cached = await this.cached(key);
		if (cached && this.fresh(cached)) return toPreview(cached);
		try {
			return toPreview(await this.refresh(key, admit));
		} catch (error) {
			// A stale preview beats none while every slot is busy or the asker is over their limit.
			if ((error instanceof PreviewsBusy || error instanceof PreviewsLimited) && cached) return toPreview(cached);
			throw error;
		}
	}

	/** The image's own URL for the proxy: only that of a stored preview, so it is no open proxy. */
	async imageOf(url: string): Promise<string | null> {
		const key = previewKey(url);
		if (!key) return null;
		const row = await this.cached(key);
		return row?.status === 'ok' ? row.imageUrl : null;
	}

	private async cached(key: string): Promise<Row | undefined> {
		const [row] = await this.db.select().from(linkPreviews).where(eq(linkPreviews.url, key));
		return row;
	}

	private fresh(row: Row): boolean {
		const ttl = row.status === 'ok' ? this.options.ttlMs : this.options.failureTtlMs;
		return this.now() - row.fetchedAt.getTime() < ttl;
	}

	private async refresh(key: string, admit: Admit): Promise<Row> {
		let pending = this.inFlight.get(key);
		if (!pending) {
			if (this.inFlight.size >= this.options.maxFetches) throw new PreviewsBusy('Too many link previews are being fetched.');
			const wait = admit();
			if (wait > 0) throw new PreviewsLimited(wait);
			pending = this.fetchAndStore(key).finally(() => this.inFlight.delete(key));
			this.inFlight.set(key, pending);
		}
		return pending;
	}

	private async fetchAndStore(key: string): Promise<Row> {
		let row: Row;
		try {
			const page = await this.fetchPage(key);
			const empty = !page.title && !page.description && !page.imageUrl;
			row = {
				url: key,
				status: empty ? 'failed' : 'ok',
				reason: empty ? 'empty' : null,
				title: page.title,
				description: page.description,
				imageUrl: page.imageUrl,
				siteName: page.siteName,
				fetchedAt: new Date(this.now())
			};
		} catch (error) {
			// Anything but the fetch's own failures (a bug, a database error) is not the link's fault.
			if (!(error instanceof PreviewFetchError)) throw error;
			row = {
				url: key,
				status: 'failed',
				reason: error.reason,
				title: null,
				description: null,
				imageUrl: null,
				siteName: null,
				fetchedAt: new Date(this.now())
			};
		}
		await this.db.insert(linkPreviews).values(row).onConflictDoUpdate({ target: linkPreviews.url, set: row });
		return row;
	}
}
