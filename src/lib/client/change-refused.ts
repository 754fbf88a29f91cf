/**
 * Why a change cannot be made at all, told to the user at once (nothing is queued). Apart from
 * `changes.ts` so the components that tell it apart need not load the change queue and Dexie.
 */
export class ChangeRefused extends Error {}
