/**
 * Object URLs for local files, one per file however many elements show it, revoked once none
 * does. Every read from IndexedDB yields a new Blob for the same bytes: keyed by the upload's id,
 * a re-read keeps the URL it has instead of minting (and leaking) another.
 */
const urls = new Map<string, { url: string; users: number }>();

export function acquireBlobUrl(key: string, blob: Blob): string {
	const entry = urls.get(key);
	if (entry) {
		entry.users++;
		return entry.url;
	}
	const url = URL.createObjectURL(blob);
	urls.set(key, { url, users: 1 });
	return url;
}

export function releaseBlobUrl(key: string): void {
	const entry = urls.get(key);
	if (!entry) return;
	entry.users--;
	// An element re-rendered with a fresh copy of the row lets go and takes hold again in one
	// update: revoking only after it keeps the picture from flickering.
	queueMicrotask(() => {
		if (entry.users > 0 || urls.get(key) !== entry) return;
		urls.delete(key);
		URL.revokeObjectURL(entry.url);
	});
}

/** A Svelte attachment setting `attribute` (src, href) of its element to the file's URL while it is mounted. */
export function blobUrl(key: string, blob: Blob, attribute: 'src' | 'href' = 'src') {
	return (element: HTMLElement) => {
		element.setAttribute(attribute, acquireBlobUrl(key, blob));
		return () => releaseBlobUrl(key);
	};
}
