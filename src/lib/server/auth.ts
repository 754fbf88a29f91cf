/**
 * Accounts: registration and sign-in with argon2id, and the throttling that makes guessing
 * passwords slow (per username and per client address).
 */
import { eq } from 'drizzle-orm';
import { AppError } from '$lib/errors';
import type { User } from '$lib/types';
import type { Db } from './db';
import { users } from './db/schema';
import type { Registration } from './config';
import { spendInvite } from './invites';
import { decoyHash, hashPassword, verifyPassword } from './password';
import { RefillingTokenBucket, Throttler } from './rate-limit';

export interface Credentials {
	username: string;
	password: string;
}

export interface Registrant extends Credentials {
	/** Needed when REGISTRATION=invite; ignored otherwise. */
	inviteCode?: string;
}

export interface PasswordChange {
	currentPassword: string;
	newPassword: string;
}

const INVALID_CREDENTIALS = 'The username or password is incorrect.';

export class Auth {
	/** Consecutive failures for one username wait 0, 1, 2, 4 … up to 300 seconds. */
	private readonly usernameThrottler = new Throttler<string>([0, 1, 2, 4, 8, 16, 30, 60, 180, 300]);
	/** One address may try 20 passwords at once, then one every 3 seconds. */
	private readonly addressBucket = new RefillingTokenBucket<string>(20, 3000);
	/** Consecutive wrong current passwords of one account, as for sign-in (a stolen session guessing). */
	private readonly passwordChangeThrottler = new Throttler<string>([0, 1, 2, 4, 8, 16, 30, 60, 180, 300]);
	/** Account creation is cheap to ask for and expensive to serve (argon2). */
	private readonly registerBucket = new RefillingTokenBucket<string>(30, 20_000);

	constructor(
		private readonly db: Db,
		private readonly rateLimit: boolean,
		readonly registration: Registration = 'open'
	) {}

	async register(input: Registrant, address: string): Promise<User> {
		if (this.registration === 'closed') throw new AppError('forbidden', 'Registration is closed on this server.');
		if (this.registration === 'invite' && !input.inviteCode) throw new AppError('forbidden', 'Registration needs an invite code.');
		if (this.rateLimit) {
			const wait = this.registerBucket.consume(address);
			if (wait > 0) throw tooMany(wait);
		}
		const passwordHash = await hashPassword(input.password);
		const user: User = { id: crypto.randomUUID(), username: input.username };
		const inviteCode = this.registration === 'invite' ? input.inviteCode : undefined;
		await this.db.transaction(async (tx) => {
			const inserted = await tx
				.insert(users)
				.values({ ...user, passwordHash })
				.onConflictDoNothing({ target: users.username })
				.returning({ id: users.id });
			if (inserted.length === 0) throw new AppError('conflict', 'That username is taken; choose another.');
			// After the insert (the code's used_by points at the new row); a refused code rolls it back.
			if (inviteCode !== undefined) await spendInvite(tx, inviteCode, user.id);
		});
		return user;
	}

	async login(input: Credentials, address: string): Promise<User> {
		if (this.rateLimit) {
			const wait = this.usernameThrottler.check(input.username);
			if (wait > 0) throw tooMany(wait);
			const addressWait = this.addressBucket.consume(address);
			if (addressWait > 0) throw tooMany(addressWait);
		}
		const [row] = await this.db.select().from(users).where(eq(users.username, input.username)).limit(1);
		// A deleted account's hash is unusable anyway; the decoy keeps its refusal as slow as any other.
		const live = row && !row.deletedAt ? row : undefined;
		const valid = await verifyPassword(live?.passwordHash ?? (await decoyHash()), input.password);
		if (!live || !valid) {
			if (this.rateLimit) this.usernameThrottler.recordFailure(input.username);
			throw new AppError('unauthorized', INVALID_CREDENTIALS);
		}
		this.usernameThrottler.reset(input.username);
		// Told only to whoever knows the password: a guesser learns nothing about the account.
		if (live.disabledAt) throw new AppError('forbidden', 'This account has been disabled by the operator of this server.');
		return { id: live.id, username: live.username };
	}

	/**
	 * A signed-in user proving it is them before something that cannot be undone: throttled like
	 * sign-in (a stolen session must not become a fast password oracle); wrong → 403.
	 */
	async confirmPassword(userId: string, password: string, address: string): Promise<void> {
		const key = `confirm:${userId}`;
		if (this.rateLimit) {
			const wait = this.usernameThrottler.check(key);
			if (wait > 0) throw tooMany(wait);
			const addressWait = this.addressBucket.consume(address);
			if (addressWait > 0) throw tooMany(addressWait);
		}
		const [row] = await this.db.select({ passwordHash: users.passwordHash }).from(users).where(eq(users.id, userId)).limit(1);
		if (!row || !(await verifyPassword(row.passwordHash, password))) {
			if (this.rateLimit) this.usernameThrottler.recordFailure(key);
			throw new AppError('forbidden', 'The password is incorrect.');
		}
		this.usernameThrottler.reset(key);
	}

	/**
	 * Replaces the password after proving the current one; which sessions then end is the route's
	 * business (signin.ts), since only it knows which one to keep.
	 */
	async changePassword(userId: string, input: PasswordChange, address: string): Promise<void> {
		if (this.rateLimit) {
			const wait = this.passwordChangeThrottler.check(userId);
			if (wait > 0) throw tooMany(wait);
			const addressWait = this.addressBucket.consume(address);
			if (addressWait > 0) throw tooMany(addressWait);
		}
		const [row] = await this.db.select({ passwordHash: users.passwordHash }).from(users).where(eq(users.id, userId)).limit(1);
		if (!row) throw new AppError('unauthorized', 'Sign in to continue.');
		if (!(await verifyPassword(row.passwordHash, input.currentPassword))) {
			if (this.rateLimit) this.passwordChangeThrottler.recordFailure(userId);
			throw new AppError('forbidden', 'The current password is incorrect.');
		}
		this.passwordChangeThrottler.reset(userId);
		await this.db
			.update(users)
			.set({ passwordHash: await hashPassword(input.newPassword) })
			.where(eq(users.id, userId));
	}
}

function tooMany(retryAfter: number) {
	return new AppError('rate_limited', `Too many attempts; try again in ${retryAfter} seconds.`, { retryAfter });
}
