/**
 * Read receipts as Signal has them: a user who turns them off shows peers no read state and sees
 * none of theirs; delivered still flows, and the user's own devices still get the user's own read
 * state (unread counts sync between them). Applied wherever a receipt leaves the server: live
 * receipt events, their replay from the log, and conversation views (views.ts).
 */
import { inArray } from 'drizzle-orm';
import type { Executor } from '../db';
import { users } from '../db/schema';

export interface ReceiptData {
	userId: string;
	deliveredSeq: number;
	readSeq: number;
}

/** Each user's readReceipts setting; users not found count as off (they show nothing). */
export async function readReceiptSettings(db: Executor, userIds: string[]): Promise<Map<string, boolean>> {
	const unique = [...new Set(userIds)];
	if (!unique.length) return new Map();
	const rows = await db.select({ id: users.id, on: users.readReceipts }).from(users).where(inArray(users.id, unique));
	return new Map(rows.map((r) => [r.id, r.on]));
}

/** The receipt as `viewerId` may see it: another's read position is 0 unless both have receipts on. */
export function receiptFor(viewerId: string, data: ReceiptData, settings: Map<string, boolean>): ReceiptData {
	if (data.userId === viewerId) return data;
	const shown = settings.get(viewerId) === true && settings.get(data.userId) === true;
	return shown ? data : { ...data, readSeq: 0 };
}
