/**
 * What the operator and the user can do to a whole account: delete it (account-deletion.ts),
 * disable and enable it, and reset its password (password-reset.ts). One object, shared by the
 * API, the form actions and the admin command, so each of them does exactly the same thing.
 */
import { and, eq, isNull } from 'drizzle-orm';
import { users } from './db/schema';
import { AccountDeletion, type AccountDeletionDeps } from './account-deletion';
import { PasswordResets } from './password-reset';

export class Accounts {
	private readonly deletion: AccountDeletion;
	readonly resets: PasswordResets;

	constructor(private readonly deps: AccountDeletionDeps) {
		this.deletion = new AccountDeletion(deps);
		this.resets = new PasswordResets(deps);
	}

	/** See AccountDeletion.delete; false when there is no such user. */
	delete(userId: string): Promise<boolean> {
		return this.deletion.delete(userId);
	}

	/** Finishes deletions a crash interrupted. */
	resumeDeletions(): Promise<number> {
		return this.deletion.resume();
	}

	/** Signing in fails from now on, and every session ends with its open connections. */
	async disable(userId: string): Promise<void> {
		await this.deps.db
			.update(users)
			.set({ disabledAt: new Date() })
			.where(and(eq(users.id, userId), isNull(users.disabledAt)));
		await this.endSessions(userId);
	}

	async enable(userId: string): Promise<void> {
		await this.deps.db.update(users).set({ disabledAt: null }).where(eq(users.id, userId));
	}

	async findByUsername(username: string): Promise<{ id: string; deletedAt: Date | null } | undefined> {
		const [row] = await this.deps.db
			.select({ id: users.id, deletedAt: users.deletedAt })
			.from(users)
			.where(eq(users.username, username))
			.limit(1);
		return row;
	}

	async endSessions(userId: string): Promise<void> {
		await this.deps.sessions.invalidateUser(userId);
		this.deps.chat.revokeSessions(userId, 'all');
	}
}
