/**
 * Link previews, put together for a process: the guard's settings from the config, the cache on
 * the process's database. One per Services, so that every route and caller shares the in-flight
 * fetches.
 */
import type { Services } from '../services';
import { fetchPreview } from './fetch-preview';
import { firstUrl } from './first-url';
import type { GuardOptions } from './guard';
import { PreviewStore, STORE_DEFAULTS, type LinkPreview } from './store';

export { firstUrl } from './first-url';
export { PreviewsBusy, type LinkPreview } from './store';

export interface Previews {
	store: PreviewStore;
	guard: GuardOptions;
	/**
	 * The preview of a message body's first http(s) link (null: no link, or no preview), fetched
	 * unless cached. Throws PreviewsBusy when every fetch slot is taken.
	 */
	forText(text: string): Promise<LinkPreview | null>;
}

const built = new WeakMap<Services, Previews>();

/** Undefined when PREVIEWS=off. */
export function previewsOf(services: Services): Previews | undefined {
	if (!services.config.previews) return undefined;
	let previews = built.get(services);
	if (!previews) {
		const guard: GuardOptions = { allow: new Set(services.config.previewAllowPrivateHosts) };
		const store = new PreviewStore(services.database.db, (url) => fetchPreview(url, guard), STORE_DEFAULTS);
		previews = {
			guard,
			store,
			forText: async (text) => {
				const url = firstUrl(text);
				return url ? store.get(url) : null;
			}
		};
		built.set(services, previews);
	}
	return previews;
}
