/**
 * One-time password reset links, made by the operator's command for a user who forgot theirs:
 * a token valid 24 hours, of which only SHA-256 is stored. Using it sets the new password and ends
 * every session of the user (a thief signed in with the old password is out too).
 */
import { and, eq, gt, isNull } from 'drizzle-orm';
import { AppError } from '$lib/errors';
import type { User } from '$lib/types';
import { passwordResets, users } from './db/schema';
import type { AccountDeletionDeps } from './account-deletion';
import { hashPassword } from './password';
import { newToken, tokenHash } from './secret-token';

const RESET_TTL_MS = 24 * 60 * 60 * 1000;

/** One message for a used, expired or unknown token. */
export const RESET_REFUSED =
	'This reset link is not valid: it was used already, has expired, or was mistyped. Ask the operator for a new one.';

export function resetUrl(origin: string, token: string): string {
	return `${origin}/reset/${token}`;
}

export class PasswordResets {
	constructor(private readonly deps: Pick<AccountDeletionDeps, 'db' | 'sessions' | 'chat'>) {}

	async create(userId: string, now = new Date()): Promise<{ token: string; expiresAt: Date }> {
		const token = newToken();
		const expiresAt = new Date(now.getTime() + RESET_TTL_MS);
		await this.deps.db.insert(passwordResets).values({ tokenHash: tokenHash(token), userId, expiresAt });
		return { token, expiresAt };
	}

	/** Whether the link would work now (the page says so before asking for a password). */
	async usable(token: string, now = new Date()): Promise<boolean> {
		return (await this.holder(token, now)) !== undefined;
	}

	/** Spends the token and sets the password; returns the user, whose every session has ended. */
	async reset(token: string, password: string, now = new Date()): Promise<User> {
		// Hashed first: argon2 takes a while, and no transaction should wait on it.
		const passwordHash = await hashPassword(password);
		const user = await this.deps.db.transaction(async (tx) => {
			const [spent] = await tx
				.delete(passwordResets)
				.where(and(eq(passwordResets.tokenHash, tokenHash(token)), gt(passwordResets.expiresAt, now)))
				.returning({ userId: passwordResets.userId });
			if (!spent) throw new AppError('forbidden', RESET_REFUSED);
			const [updated] = await tx
				.update(users)
				.set({ passwordHash })
				.where(and(eq(users.id, spent.userId), isNull(users.deletedAt), isNull(users.disabledAt)))
				.returning({ id: users.id, username: users.username });
			if (!updated) throw new AppError('forbidden', RESET_REFUSED);
			return updated;
		});
		await this.deps.sessions.invalidateUser(user.id);
		this.deps.chat.revokeSessions(user.id, 'all');
		return user;
	}

	private async holder(token: string, now: Date): Promise<string | undefined> {
		const [row] = await this.deps.db
			.select({ userId: passwordResets.userId })
			.from(passwordResets)
			.innerJoin(users, eq(users.id, passwordResets.userId))
			.where(
				and(
					eq(passwordResets.tokenHash, tokenHash(token)),
					gt(passwordResets.expiresAt, now),
					isNull(users.deletedAt),
					isNull(users.disabledAt)
				)
			)
			.limit(1);
		return row?.userId;
	}
}
