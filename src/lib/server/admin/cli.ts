/**
 * The operator's command, `npm run admin -- <command>`: the server's own services on the server's
 * own configuration (DATABASE_URL or PGLITE_DIR, ORIGIN), so that what it does (ending sessions,
 * deleting an account) is exactly what the app does, and on PostgreSQL reaches running servers
 * through the bus. Bundled by vite.admin.config.ts into build/admin.js.
 */
import { parseArgs } from 'node:util';
import { createInterface } from 'node:readline/promises';
import { initServices, type Services } from '../services';
import { runAdmin, type AdminIo } from './commands';

const USAGE = `Usage: npm run admin -- <command>

  list                         every account: created, last seen, state, sessions
  invite [--hours N]           a single-use invite code and its link (for REGISTRATION=invite)
  reset-password <username>    a password reset link, valid 24 hours, usable once
  disable <username>           signing in fails and every session ends
  enable <username>            signing in works again
  delete <username> [--yes]    deletes the account for good (asks first unless --yes)

With embedded PGlite (no DATABASE_URL), stop the server first: PGlite serves one process.`;

async function main(): Promise<number> {
	const { positionals, values } = parseArgs({
		args: process.argv.slice(2),
		allowPositionals: true,
		options: { hours: { type: 'string' }, yes: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } }
	});
	if (values.help || positionals.length === 0) {
		console.log(USAGE);
		return values.help ? 0 : 2;
	}
	let services: Services | undefined;
	const io: AdminIo = {
		out: (line) => console.log(line),
		error: (line) => console.error(line),
		interactive: Boolean(process.stdin.isTTY),
		async ask(question) {
			const rl = createInterface({ input: process.stdin, output: process.stdout });
			try {
				return await rl.question(question);
			} finally {
				rl.close();
			}
		}
	};
	try {
		services = await initServices();
		return await runAdmin(services, io, positionals, { hours: values.hours, yes: values.yes });
	} finally {
		await services?.shutdown();
	}
}

main().then(
	(code) => process.exit(code),
	(error: Error & { code?: string }) => {
		if (error.name === 'ConfigError') console.error(`Invalid configuration: ${error.message}`);
		else if (error.code?.startsWith('ERR_PARSE_ARGS')) console.error(`${error.message}\n\n${USAGE}`);
		else console.error(error);
		process.exit(error.code?.startsWith('ERR_PARSE_ARGS') ? 2 : 1);
	}
);
