/**
 * The unread total in front of the tab's title, "(3) Duet", as mail and chat apps show it. Pages
 * keep setting their own titles (svelte:head); the count is put back in front whenever they do.
 */
const COUNT = /^\(\d+\) /;

export function withUnread(title: string, unread: number): string {
	const base = title.replace(COUNT, '');
	return unread > 0 ? `(${unread}) ${base}` : base;
}

/** Follows the document's title until `stop`, which leaves it without the count. */
export function unreadTitle(doc: Document = document) {
	let unread = 0;
	const apply = () => {
		const next = withUnread(doc.title, unread);
		// Only on a change: our own write is observed too, and must not loop.
		if (next !== doc.title) doc.title = next;
	};
	const observer = new MutationObserver(apply);
	observer.observe(doc.head, { subtree: true, childList: true, characterData: true });
	return {
		set(count: number) {
			unread = count;
			apply();
		},
		stop() {
			observer.disconnect();
			unread = 0;
			apply();
		}
	};
}
