/**
 * Read receipts as Signal has them: a user who turns them off shows peers no read state and sees
 * none of theirs; delivered still flows, and the user's own devices still get the user's own read
 * state (unread counts sync between them). Applied wherever a receipt leaves the server: live
 * receipt events, their replay from the log, and conversation views (views.ts).
 */
import { asc, inArray } from 'drizzle-orm';
import type { Executor, Tx } from '../db';
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

/**
 * The same, with the users' rows locked (in id order, as appendEvent locks them), so that a
 * change of the setting cannot commit between this read and the receipt it decides.
 */
export async function lockedReadReceiptSettings(tx: Tx, userIds: string[]): Promise<Map<string, boolean>> {
	const rows = await tx
		.select({ id: users.id, on: users.readReceipts })
		.from(users)
		.where(inArray(users.id, [...new Set(userIds)]))
		.orderBy(asc(users.id))
		.for('update');
	return new Map(rows.map((r) => [r.id, r.on]));
}

/**
 * Whose log a receipt goes to: those for whom what they may see of it changed. Someone who may not
 * see a read position must not get an event at the moment it moves: its timing would tell.
 */
export function receiptRecipients(members: string[], before: ReceiptData, after: ReceiptData, settings: Map<string, boolean>): string[] {
	return members.filter((member) => {
		const was = receiptFor(member, before, settings);
		const now = receiptFor(member, after, settings);
		return was.deliveredSeq !== now.deliveredSeq || was.readSeq !== now.readSeq;
	});
}

/** The receipt as `viewerId` may see it: another's read position is 0 unless both have receipts on. */
export function receiptFor(viewerId: string, data: ReceiptData, settings: Map<string, boolean>): ReceiptData {
	if (data.userId === viewerId) return data;
	const shown = settings.get(viewerId) === true && settings.get(data.userId) === true;
	return shown ? data : { ...data, readSeq: 0 };
}
