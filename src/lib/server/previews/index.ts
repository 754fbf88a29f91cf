/**
 * Link previews, put together for a process: the guard's settings from the config, the cache on
 * the process's database. One per Services, so that every route and caller shares the in-flight
 * fetches.
 */
import type { Services } from '../services';
import { fetchPreview } from './fetch-preview';
import type { GuardOptions } from './guard';
import { PreviewStore, STORE_DEFAULTS } from './store';

export { firstUrl } from './first-url';
export type { LinkPreview } from './store';

export interface Previews {
	store: PreviewStore;
	guard: GuardOptions;
}

const built = new WeakMap<Services, Previews>();

/** Undefined when PREVIEWS=off. */
export function previewsOf(services: Services): Previews | undefined {
	if (!services.config.previews) return undefined;
	let previews = built.get(services);
	if (!previews) {
		const guard: GuardOptions = { allow: new Set(services.config.previewAllowPrivateHosts) };
		previews = { guard, store: new PreviewStore(services.database.db, (url) => fetchPreview(url, guard), STORE_DEFAULTS) };
		built.set(services, previews);
	}
	return previews;
}
