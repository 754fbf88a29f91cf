/**
 * Which client frame ids an error frame echoes. The id lets a client match an error to its send;
 * echoing whatever it sent would let one 64 KiB frame buy a 64 KiB answer (and put arbitrary text
 * in a log or a page). Message ids are UUIDs, so a short id of plain characters loses nothing.
 */

export const MAX_ECHOED_ID_LENGTH = 64;

const SAFE_ID = new RegExp(`^[A-Za-z0-9_.:-]{1,${MAX_ECHOED_ID_LENGTH}}$`);

/** The frame's `id` when it is a short id of safe characters, else undefined (the error goes without it). */
export function echoedId(frame: unknown): string | undefined {
	if (typeof frame !== 'object' || frame === null) return undefined;
	const id = (frame as { id?: unknown }).id;
	return typeof id === 'string' && SAFE_ID.test(id) ? id : undefined;
}
