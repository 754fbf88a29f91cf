/**
 * Deleting an account, for the user (DELETE /api/me) and the operator (`npm run admin -- delete`)
 * alike. The row stays, so the username is never given out again; everything else the account
 * said or holds goes, through the same write path as the user's own deletes, so the peer sees each
 * of its messages become a deleted one (`message_updated`).
 *
 * Resumable: the first step marks the row (deleted_at, and a password hash that says "not done
 * yet"), and every later step is idempotent and works in bounded chunks, so a process that dies
 * part way leaves an account that cannot sign in, and the next start (or run) finishes it.
 */
import { and, asc, eq, isNull } from 'drizzle-orm';
import type { Db } from './db';
import { messages, passwordResets, pushSubscriptions, reactions, users } from './db/schema';
import type { ChatService } from './chat/service';
import type { Attachments } from './attachments/service';
import type { Sessions } from './session';

/**
 * Never a valid argon2 hash (verify fails on it), so no password signs in to a deleted account.
 * The two values tell a finished deletion from one a crash interrupted, with no column of its own.
 */
export const DELETING_HASH = '!account-deletion-in-progress';
export const DELETED_HASH = '!account-deleted';

/** Messages (or reactions) changed per round: each round is a few group-commit batches, never one huge transaction. */
const CHUNK = 200;

export interface AccountDeletionDeps {
	db: Db;
	chat: Pick<ChatService, 'changeFor' | 'revokeSessions'>;
	sessions: Pick<Sessions, 'invalidateUser'>;
	attachments: Pick<Attachments, 'deleteUnsentOf'>;
}

export class AccountDeletion {
	constructor(private readonly deps: AccountDeletionDeps) {}

	/** Deletes the account (or finishes deleting it); false when there is no such user. */
	async delete(userId: string): Promise<boolean> {
		const { db } = this.deps;
		const [marked] = await db
			.update(users)
			.set({ deletedAt: new Date(), passwordHash: DELETING_HASH })
			.where(and(eq(users.id, userId), isNull(users.deletedAt)))
			.returning({ id: users.id });
		if (!marked) {
			const [row] = await db.select({ passwordHash: users.passwordHash }).from(users).where(eq(users.id, userId)).limit(1);
			if (!row) return false;
			if (row.passwordHash === DELETED_HASH) return true;
		}
		await this.finish(userId);
		return true;
	}

	/** Finishes every deletion a crash interrupted; run at start. Returns the accounts finished. */
	async resume(): Promise<number> {
		const pending = await this.deps.db.select({ id: users.id }).from(users).where(eq(users.passwordHash, DELETING_HASH));
		for (const { id } of pending) await this.finish(id);
		return pending.length;
	}

	private async finish(userId: string): Promise<void> {
		const { db, chat, sessions, attachments } = this.deps;
		// First the sessions, so nothing of the account can act while the rest goes.
		await sessions.invalidateUser(userId);
		chat.revokeSessions(userId, 'all');
		await db.delete(pushSubscriptions).where(eq(pushSubscriptions.userId, userId));
		await db.delete(passwordResets).where(eq(passwordResets.userId, userId));
		await this.deleteMessages(userId);
		await this.removeReactions(userId);
		await attachments.deleteUnsentOf(userId);
		await db.update(users).set({ passwordHash: DELETED_HASH }).where(eq(users.id, userId));
	}

	/** Each message as its sender's delete: its attachments and their blobs go with it (group commit). */
	private async deleteMessages(userId: string): Promise<void> {
		for (;;) {
			const chunk = await this.deps.db
				.select({ id: messages.id, conversationId: messages.conversationId })
				.from(messages)
				.where(and(eq(messages.senderId, userId), isNull(messages.deletedAt)))
				.orderBy(asc(messages.id))
				.limit(CHUNK);
			if (chunk.length === 0) return;
			await Promise.all(chunk.map((m) => this.deps.chat.changeFor(userId, m.conversationId, { op: 'delete', messageId: m.id })));
		}
	}

	/** Its reactions on the peer's messages (its own messages lost theirs when deleted). */
	private async removeReactions(userId: string): Promise<void> {
		for (;;) {
			const chunk = await this.deps.db
				.select({ messageId: reactions.messageId, emoji: reactions.emoji, conversationId: messages.conversationId })
				.from(reactions)
				.innerJoin(messages, eq(messages.id, reactions.messageId))
				.where(eq(reactions.userId, userId))
				.limit(CHUNK);
			if (chunk.length === 0) return;
			await Promise.all(
				chunk.map((r) => this.deps.chat.changeFor(userId, r.conversationId, { op: 'unreact', messageId: r.messageId, emoji: r.emoji }))
			);
		}
	}
}
