/**
 * Presence is only news while the connection is live: the server tells when a peer comes and
 * goes, and nothing while this device cannot hear it.
 */
import type { DuetDb } from './db';

/** The connection dropped: whoever was online was last seen (by us) now, and is not claimed online any more. */
export async function presenceLost(db: DuetDb, at: number): Promise<void> {
	await db.presence.filter((p) => p.online).modify({ online: false, lastSeenAt: new Date(at).toISOString() });
}
