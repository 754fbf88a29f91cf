/**
 * Link previews, put together for a process: the guard's settings from the config, the cache on
 * the process's database, the per-user limit on fetches. One per process (Services.previews), so
 * that every route and every send shares the in-flight fetches and the limit.
 */
import type { Config } from '../config';
import type { Executor } from '../db';
import { RefillingTokenBucket } from '../rate-limit';
import type { Services } from '../services';
import { fetchPreview } from './fetch-preview';
import type { GuardOptions } from './guard';
import { PreviewsBusy, PreviewsLimited, PreviewStore, STORE_DEFAULTS, type LinkPreview } from './store';

export { firstUrl } from './first-url';
export { PreviewsBusy, PreviewsLimited, type LinkPreview } from './store';

export interface Previews {
	store: PreviewStore;
	guard: GuardOptions;
	/**
	 * The preview of `url` for `userId`, fetched unless cached. A fetch counts against the user's
	 * limit (PreviewsLimited past it); a cached preview, or joining a fetch already running, does not.
	 * Throws PreviewsBusy when every fetch slot is taken.
	 */
	forUser(userId: string, url: string): Promise<LinkPreview | null>;
	/**
	 * The same for the link of a message of `userId`'s. Never throws for the link's sake: busy, over
	 * the limit or unfetchable is null (a send simply gets no preview); a database failure still throws.
	 */
	forMessage(userId: string, url: string): Promise<LinkPreview | null>;
}

/** Undefined when PREVIEWS=off. */
export function createPreviews(config: Config, db: Executor): Previews | undefined {
	if (!config.previews) return undefined;
	const guard: GuardOptions = { allow: new Set(config.previewAllowPrivateHosts) };
	const store = new PreviewStore(db, (url) => fetchPreview(url, guard), STORE_DEFAULTS);
	const limiter = new RefillingTokenBucket<string>(config.previewFetchesPerMinute, 60_000 / config.previewFetchesPerMinute);
	const forUser = (userId: string, url: string) => store.get(url, () => (config.rateLimit ? limiter.consume(userId) : 0));
	return {
		guard,
		store,
		forUser,
		forMessage: async (userId, url) => {
			try {
				return await forUser(userId, url);
			} catch (error) {
				if (error instanceof PreviewsBusy || error instanceof PreviewsLimited) return null;
				throw error;
			}
		}
	};
}

/** The process's previews; undefined when PREVIEWS=off. */
export function previewsOf(services: Services): Previews | undefined {
	return services.previews;
}
