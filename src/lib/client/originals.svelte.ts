/**
 * The originals that replies quote. Most are among the rows on screen; an older one is looked up
 * once, on this device first and then on the server, so scrolling through replies costs one
 * request per original at most, and none while it is loaded anyway.
 */
import type { Message } from '$lib/types';
import type { DuetDb, LocalMessage } from './db';

export interface OriginalSource {
	readonly db: DuetDb;
	/** The message, or null when the server has none the user may read. */
	fetchMessage(id: string): Promise<Message | null>;
}

export class Originals {
	/** id → the message, or null when there is none; absent while being looked up. */
	private found = $state<Record<string, Message | LocalMessage | null>>({});
	// Not reactive on purpose: it only stops a second lookup, and reads of it must not re-run the view.
	// eslint-disable-next-line svelte/prefer-svelte-reactivity
	private readonly asked = new Set<string>();

	constructor(private readonly source: OriginalSource) {}

	/** The original of a reply: from `loaded` when it is there, else looked up (undefined meanwhile). */
	get<M extends Message | LocalMessage>(id: string, loaded: ReadonlyMap<string, M>): M | Message | LocalMessage | null | undefined {
		const here = loaded.get(id);
		if (here) return here;
		if (!this.asked.has(id)) {
			this.asked.add(id);
			void this.lookUp(id);
		}
		return this.found[id];
	}

	private async lookUp(id: string): Promise<void> {
		try {
			this.found[id] = (await this.source.db.messages.get(id)) ?? (await this.source.fetchMessage(id));
		} catch (error) {
			// Offline or a failed request: ask again the next time it is needed.
			console.warn('Could not look up a quoted message', error);
			this.asked.delete(id);
		}
	}
}
