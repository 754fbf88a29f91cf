/**
 * How many messages one page of history holds, as the sync engine fetches it and the history
 * reader shows it at first. Apart from `sync.ts` so the page can read it without loading the
 * sync engine (and Dexie with it) before hydration.
 */
export const HISTORY_PAGE = 50;
