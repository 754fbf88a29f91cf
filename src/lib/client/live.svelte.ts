/**
 * Svelte 5 runes over Dexie liveQuery: a value that follows the database, in every tab, and is
 * re-queried when the reactive inputs read by `select` change.
 */
import { watch } from './live-query';

export interface LiveSelection<T> {
	/** What the result is about; a result for an older key is never shown for a newer one. */
	key: string;
	query: () => Promise<T> | T;
}

/**
 * `select` runs inside an effect: whatever reactive state it reads are the inputs. While the key
 * stays the same (say, paging further back in one conversation) the previous result stays on
 * screen until the new one arrives; when the key changes, `current` is undefined until then.
 */
export function live<T>(select: () => LiveSelection<T> | null): { readonly current: T | undefined } {
	let result = $state<{ key: string; value: T } | null>(null);
	let wanted = $state<string | null>(null);
	$effect(() => {
		const selection = select();
		wanted = selection?.key ?? null;
		if (!selection) return;
		return watch(selection.query, {
			next: (value) => (result = { key: selection.key, value }),
			error: (error) => console.error('Live query failed', error)
		});
	});
	return {
		get current() {
			return result && result.key === wanted ? result.value : undefined;
		}
	};
}
