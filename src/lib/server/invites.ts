/**
 * Invite codes for REGISTRATION=invite: made by any signed-in user (a few a day) or by the
 * operator's command, single use and expiring. A code is spent in the transaction that inserts the
 * new user, so two registrations racing for one code make exactly one account.
 */
import { and, eq, gt, isNull } from 'drizzle-orm';
import { AppError } from '$lib/errors';
import type { Executor } from './db';
import { invites } from './db/schema';
import { RefillingTokenBucket } from './rate-limit';
import { newToken, tokenHash } from './secret-token';

const HOUR_MS = 60 * 60 * 1000;

export interface Invite {
	code: string;
	expiresAt: Date;
}

/** One message for a used, expired or unknown code, so that trying codes tells nothing about them. */
export const INVITE_REFUSED = 'That invite code is not valid. Ask for a new invite link.';

export async function createInvite(db: Executor, options: { createdBy: string | null; ttlHours: number; now?: Date }): Promise<Invite> {
	const code = newToken();
	const expiresAt = new Date((options.now ?? new Date()).getTime() + options.ttlHours * HOUR_MS);
	await db.insert(invites).values({ codeHash: tokenHash(code), createdBy: options.createdBy, expiresAt });
	return { code, expiresAt };
}

/**
 * Marks the code used by `userId`, or throws 403 when it cannot be: the row lock taken by the
 * update makes a second transaction for the same code wait and then find it used.
 */
export async function spendInvite(tx: Executor, code: string, userId: string, now = new Date()): Promise<void> {
	const spent = await tx
		.update(invites)
		.set({ usedBy: userId, usedAt: now })
		.where(and(eq(invites.codeHash, tokenHash(code)), isNull(invites.usedAt), gt(invites.expiresAt, now)))
		.returning({ usedAt: invites.usedAt });
	if (spent.length === 0) throw new AppError('forbidden', INVITE_REFUSED);
}

export function inviteUrl(origin: string, code: string): string {
	return `${origin}/register?invite=${encodeURIComponent(code)}`;
}

/** The invites users make (not the operator's): only when REGISTRATION=invite, 20 a day each. */
export class UserInvites {
	private readonly bucket = new RefillingTokenBucket<string>(20, (24 * HOUR_MS) / 20);

	constructor(
		private readonly db: Executor,
		private readonly settings: { registration: string; inviteTtlHours: number; rateLimit: boolean }
	) {}

	async create(userId: string): Promise<Invite> {
		if (this.settings.registration !== 'invite') throw new AppError('forbidden', 'Invites are only used when registration is by invite.');
		if (this.settings.rateLimit) {
			const wait = this.bucket.consume(userId);
			if (wait > 0) throw new AppError('rate_limited', `Too many invites today; try again in ${wait} seconds.`, { retryAfter: wait });
		}
		return createInvite(this.db, { createdBy: userId, ttlHours: this.settings.inviteTtlHours });
	}
}
