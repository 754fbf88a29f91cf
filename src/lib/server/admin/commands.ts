/**
 * What each admin command does, given the services and a way to talk to the operator: kept apart
 * from the process (argv, TTY, exit codes) in cli.ts so that it reads as a list of small steps.
 */
import { asc, count, eq } from 'drizzle-orm';
import { sessions, users } from '../db/schema';
import { createInvite, inviteUrl } from '../invites';
import { resetUrl } from '../password-reset';
import type { Services } from '../services';

export interface AdminIo {
	out(line: string): void;
	error(line: string): void;
	/** Whether a person can answer `ask` (stdin is a terminal). */
	interactive: boolean;
	ask(question: string): Promise<string>;
}

export interface AdminOptions {
	hours?: string;
	yes: boolean;
}

type App = Pick<Services, 'database' | 'config' | 'accounts'>;

export async function runAdmin(app: App, io: AdminIo, args: string[], options: AdminOptions): Promise<number> {
	const [command, username, ...rest] = args;
	const needsUser = ['reset-password', 'disable', 'enable', 'delete'].includes(command);
	if ((needsUser && (!username || rest.length > 0)) || (!needsUser && args.length > 1)) {
		io.error(needsUser ? `Usage: npm run admin -- ${command} <username>` : `"${command}" takes no arguments.`);
		return 2;
	}
	switch (command) {
		case 'list':
			return list(app, io);
		case 'invite':
			return invite(app, io, options.hours);
		case 'reset-password':
		case 'disable':
		case 'enable':
		case 'delete':
			return onUser(app, io, command, username, options.yes);
		default:
			io.error(`Unknown command "${command}". Run npm run admin -- --help.`);
			return 2;
	}
}

async function list(app: App, io: AdminIo): Promise<number> {
	const rows = await app.database.db
		.select({
			username: users.username,
			createdAt: users.createdAt,
			lastSeenAt: users.lastSeenAt,
			disabledAt: users.disabledAt,
			deletedAt: users.deletedAt,
			sessions: count(sessions.id)
		})
		.from(users)
		.leftJoin(sessions, eq(sessions.userId, users.id))
		.groupBy(users.id)
		.orderBy(asc(users.username));
	const table = [
		['USERNAME', 'CREATED', 'LAST SEEN', 'STATE', 'SESSIONS'],
		...rows.map((r) => [
			r.username,
			r.createdAt.toISOString(),
			r.lastSeenAt?.toISOString() ?? '-',
			r.deletedAt ? 'deleted' : r.disabledAt ? 'disabled' : 'active',
			String(r.sessions)
		])
	];
	const widths = table[0].map((_, i) => Math.max(...table.map((row) => row[i].length)));
	for (const row of table)
		io.out(
			row
				.map((cell, i) => cell.padEnd(widths[i]))
				.join('  ')
				.trimEnd()
		);
	return 0;
}

async function invite(app: App, io: AdminIo, hoursOption: string | undefined): Promise<number> {
	const hours = hoursOption === undefined ? app.config.inviteTtlHours : Number(hoursOption);
	if (!Number.isInteger(hours) || hours < 1 || hours > 24 * 366) {
		io.error(`--hours must be a whole number of hours from 1 to ${24 * 366}, got "${hoursOption}".`);
		return 2;
	}
	const created = await createInvite(app.database.db, { createdBy: null, ttlHours: hours });
	io.out(`Invite code: ${created.code}`);
	io.out(`Link:        ${link(app, io, (origin) => inviteUrl(origin, created.code))}`);
	io.out(`Expires:     ${created.expiresAt.toISOString()} (usable once)`);
	if (app.config.registration !== 'invite')
		io.out(`Note: REGISTRATION is "${app.config.registration}"; the code is only asked for when it is "invite".`);
	return 0;
}

async function onUser(app: App, io: AdminIo, command: string, username: string, yes: boolean): Promise<number> {
	const user = await app.accounts.findByUsername(username);
	if (!user) {
		io.error(`There is no account "${username}".`);
		return 1;
	}
	if (user.deletedAt && command !== 'delete') {
		io.error(`The account "${username}" was deleted.`);
		return 1;
	}
	switch (command) {
		case 'reset-password': {
			const reset = await app.accounts.resets.create(user.id);
			io.out(`Password reset link for ${username} (usable once, until ${reset.expiresAt.toISOString()}):`);
			io.out(link(app, io, (origin) => resetUrl(origin, reset.token)));
			return 0;
		}
		case 'disable':
			await app.accounts.disable(user.id);
			io.out(`Disabled ${username}: signing in fails and every session has ended.`);
			return 0;
		case 'enable':
			await app.accounts.enable(user.id);
			io.out(`Enabled ${username}: signing in works again.`);
			return 0;
		default: {
			if (!yes) {
				if (!io.interactive) {
					io.error('Refusing to delete without --yes when no one can answer the question (stdin is not a terminal).');
					return 2;
				}
				const answer = await io.ask(
					`Delete ${username}? Their messages are deleted for both sides, their files are gone, and the username is never usable again. Type the username to confirm: `
				);
				if (answer.trim() !== username) {
					io.error('Not deleted.');
					return 1;
				}
			}
			await app.accounts.delete(user.id);
			io.out(`Deleted ${username}.`);
			return 0;
		}
	}
}

/** A link on ORIGIN; without it only the path can be given, to append to the server's address. */
function link(app: App, io: AdminIo, make: (origin: string) => string): string {
	if (app.config.origin) return make(app.config.origin);
	io.error('ORIGIN is not set: the link below is a path; put your server address in front of it.');
	return make('');
}
