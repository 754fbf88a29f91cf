/**
 * The history reader of one conversation view: how many confirmed messages the page shows
 * (`limit`), whether the server has older ones, and paging back, either one step ("Load older
 * messages", scrolling near the top) or all the way to a search result's seq. Runes, so the page
 * just reads them; the scrolling itself stays with the list.
 */
import type { Conversation, Message } from '$lib/types';
import type { DuetDb } from './db';
import { countConfirmed, countFrom, oldestSeq } from './queries';
import { HISTORY_PAGE } from './history-page';

/** Older history comes in the API's largest pages: fewer round trips in long histories. */
export const OLDER_PAGE = 200;
/** Rows shown above a jumped-to message, so it does not sit on the very first line. */
const ABOVE_TARGET = 20;

/** What the reader needs from the client (DuetClient has it; specs pass a fake). */
export interface HistorySource {
	readonly db: DuetDb;
	seed(conversation: Conversation, messages: Message[]): Promise<void>;
	ensureRecent(conversationId: string): Promise<void>;
	loadOlder(conversationId: string, beforeSeq: number, limit?: number): Promise<boolean>;
}

export class HistoryReader {
	limit = $state(HISTORY_PAGE);
	serverHasMore = $state(true);
	loadingOlder = $state(false);
	olderError = $state<string | null>(null);

	private source: HistorySource | null = null;
	private conversationId = '';

	/**
	 * A conversation is shown: back to the first page, then the local database gets what the server
	 * rendered and the newest page (and, for `at`, everything back to that message). Around-`at`
	 * pages are not seeded: the local history stays one unbroken run up to the newest.
	 */
	async open(
		source: HistorySource,
		view: { conversation: Conversation; messages: Message[]; hasMore: boolean; at: number | null }
	): Promise<void> {
		const { conversation, at } = view;
		this.source = source;
		this.conversationId = conversation.id;
		this.limit = HISTORY_PAGE;
		this.serverHasMore = view.hasMore;
		await source.seed(conversation, at === null ? view.messages : []);
		await source.ensureRecent(conversation.id);
		if (at !== null) await this.loadBackTo(source, conversation.id, at);
	}

	/** Older rows exist, here or on the server, above the first one shown. */
	canLoadOlder(shown: readonly { seq?: number }[]): boolean {
		return this.serverHasMore || (shown.length > 0 && (shown[0].seq ?? 1) > 1);
	}

	/** One step back: from the local database when it already holds the rows, else the server. */
	async loadOlder(): Promise<void> {
		const source = this.source;
		if (!source || this.loadingOlder) return;
		const id = this.conversationId;
		this.loadingOlder = true;
		this.olderError = null;
		try {
			const want = this.limit + OLDER_PAGE;
			if ((await countConfirmed(source.db, id)) < want) {
				const oldest = await oldestSeq(source.db, id);
				if (oldest > 1) this.serverHasMore = await source.loadOlder(id, oldest, OLDER_PAGE);
				else this.serverHasMore = false;
			}
			// The list keeps the first visible row in place as rows appear above it.
			this.limit = want;
		} catch (error) {
			console.warn('Could not load older messages', error);
			this.olderError = 'Could not load older messages.';
		} finally {
			this.loadingOlder = false;
		}
	}

	/** Shows every row from `at` down (a reply's original), loading older pages first if needed. */
	async reveal(at: number): Promise<void> {
		const source = this.source;
		if (!source) return;
		const limit = this.limit;
		await this.loadBackTo(source, this.conversationId, at);
		this.limit = Math.max(limit, this.limit);
	}

	private async loadBackTo(source: HistorySource, id: string, at: number): Promise<void> {
		let oldest = await oldestSeq(source.db, id);
		while (oldest > at && oldest > 1) {
			this.serverHasMore = await source.loadOlder(id, oldest, OLDER_PAGE);
			const next = await oldestSeq(source.db, id);
			// Nothing older arrived after all: stop rather than ask for the same page forever.
			if (next >= oldest) break;
			oldest = next;
		}
		const total = await countConfirmed(source.db, id);
		this.limit = Math.min(total, (await countFrom(source.db, id, at)) + ABOVE_TARGET);
	}
}
