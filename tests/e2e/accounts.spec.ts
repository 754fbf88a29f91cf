/**
 * Accounts in the browser: an invite link made in Settings → Invites registers a second browser,
 * a password reset link from the operator's command, and deleting an account as the peer sees it.
 * The invite and reset tests run their own server with REGISTRATION=invite on an on-disk PGlite,
 * which the admin command (build/admin.js) can use while that server is stopped.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect, test, type Browser } from '@playwright/test';
import { conversationWith, messageWith, PASSWORD, signUp, username, waitLive } from './helpers';

// The shared server is E2E_PORT, restart.spec.ts takes the next one.
const PORT = Number(process.env.E2E_PORT ?? 4173) + 2;
const ORIGIN = `http://127.0.0.1:${PORT}`;

function environment(dataDir: string): NodeJS.ProcessEnv {
	return {
		...process.env,
		PORT: String(PORT),
		HOST: '127.0.0.1',
		ORIGIN,
		DATABASE_URL: '',
		PGLITE_DIR: dataDir,
		RATE_LIMIT: 'off',
		REGISTRATION: 'invite'
	};
}

function startServer(dataDir: string): Promise<ChildProcess> {
	const child = spawn(process.execPath, ['server/index.js'], { env: environment(dataDir), stdio: ['ignore', 'pipe', 'pipe'] });
	return new Promise((resolve, reject) => {
		let output = '';
		child.stdout!.on('data', (chunk: Buffer) => {
			output += chunk.toString();
			if (output.includes('Listening on')) resolve(child);
		});
		child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
		child.once('exit', (code) => reject(new Error(`Server exited (${code}) before listening:\n${output}`)));
	});
}

function stop(child: ChildProcess): Promise<void> {
	return new Promise((resolve) => {
		if (child.exitCode !== null || child.signalCode !== null) return resolve();
		child.once('exit', () => resolve());
		child.kill('SIGTERM');
	});
}

/** `npm run admin -- …` on the same data directory; its standard output. */
function admin(dataDir: string, args: string[]): Promise<string> {
	return new Promise((resolve, reject) => {
		const child = spawn(process.execPath, ['build/admin.js', ...args], { env: environment(dataDir), stdio: ['ignore', 'pipe', 'pipe'] });
		let output = '';
		child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
		child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
		child.once('exit', (code) => (code === 0 ? resolve(output) : reject(new Error(`admin ${args.join(' ')} exited ${code}:\n${output}`))));
	});
}

async function registerThroughLink(browser: Browser, link: string) {
	const context = await browser.newContext({ baseURL: ORIGIN });
	const page = await context.newPage();
	const name = username('inv');
	await page.goto(link);
	await expect(page.getByLabel('Invite code')).toHaveValue(new URL(link).searchParams.get('invite')!);
	await page.getByLabel('Username').fill(name);
	await page.getByLabel('Password').fill(PASSWORD);
	await page.getByRole('button', { name: 'Create an account' }).click();
	await expect(page).toHaveURL(`${ORIGIN}/`);
	return { context, page, name };
}

test.describe('invites and password resets (REGISTRATION=invite)', () => {
	test('an invite link made in settings registers a second browser; a reset link from the command signs in with a new password', async ({
		browser
	}) => {
		test.setTimeout(120_000);
		const dataDir = mkdtempSync(path.join(tmpdir(), 'duet-accounts-'));
		let server: ChildProcess | undefined;
		try {
			const first = /Link:\s+(\S+)/.exec(await admin(dataDir, ['invite']))![1];
			server = await startServer(dataDir);
			const alice = await registerThroughLink(browser, first);

			await alice.page.goto('/settings/invites');
			await alice.page.getByRole('button', { name: 'Create invite link' }).click();
			const link = await alice.page.getByTestId('invite-url').inputValue();
			expect(link).toMatch(new RegExp(`^${ORIGIN}/register\\?invite=[a-z2-7]{24}$`));
			await expect(alice.page.getByText(/Works once\. Expires/)).toBeVisible();

			const bob = await registerThroughLink(browser, link);
			// The same link again: used, so refused.
			const again = await browser.newContext({ baseURL: ORIGIN });
			const page = await again.newPage();
			await page.goto(link);
			await page.getByLabel('Username').fill(username('late'));
			await page.getByLabel('Password').fill(PASSWORD);
			await page.getByRole('button', { name: 'Create an account' }).click();
			await expect(page.getByRole('alert')).toHaveText('That invite code is not valid. Ask for a new invite link.');

			// PGlite serves one process: the command runs while the server is stopped.
			await stop(server);
			const reset = /(http\S+\/reset\/\S+)/.exec(await admin(dataDir, ['reset-password', bob.name]))![1];
			server = await startServer(dataDir);
			await page.goto(reset);
			await page.getByLabel('New password', { exact: true }).fill('a brand new password');
			await page.getByLabel('New password again').fill('a brand new password');
			await page.getByRole('button', { name: 'Set the new password' }).click();
			await expect(page).toHaveURL(`${ORIGIN}/`);
			expect((await (await again.request.get('/api/me')).json()).user.username).toBe(bob.name);
			// Bob's first browser was signed out by the reset.
			expect((await bob.context.request.get('/api/me')).status()).toBe(401);
			await page.goto(reset);
			await expect(page.getByTestId('reset-refused')).toBeVisible();
			await Promise.all([alice.context.close(), bob.context.close(), again.close()]);
		} finally {
			if (server) await stop(server);
			rmSync(dataDir, { recursive: true, force: true });
		}
	});
});

test('deleting an account: the peer sees its messages deleted and "Deleted account" with no composer', async ({ browser }) => {
	const alice = await signUp(browser, 'alice');
	const bob = await signUp(browser, 'bob');
	const id = await conversationWith(alice, bob);
	const sent = await alice.context.request.post('/api/messages', {
		data: { id: crypto.randomUUID(), conversationId: id, clientId: crypto.randomUUID(), clientSeq: 1, body: 'goodbye for now' }
	});
	expect(sent.ok()).toBe(true);
	await bob.page.goto(`/c/${id}`);
	await waitLive(bob.page);
	await expect(messageWith(bob.page, 'goodbye for now')).toBeVisible();

	await alice.page.goto('/settings/delete');
	await expect(alice.page.getByText('This cannot be undone.')).toBeVisible();
	await alice.page.getByLabel('Your password').fill(PASSWORD);
	await alice.page.getByRole('button', { name: 'Delete my account' }).click();
	await expect(alice.page).toHaveURL(/\/login\?deleted=1$/);
	await expect(alice.page.getByTestId('account-deleted')).toHaveText('Your account was deleted.');

	// Live, over the peer's open connection.
	await expect(bob.page.getByTestId('messages').getByTestId('message-deleted')).toHaveText('This message was deleted');
	await bob.page.reload();
	await expect(bob.page.getByRole('heading', { name: 'Deleted account' })).toBeVisible();
	await expect(bob.page.getByTestId('peer-deleted')).toHaveText('This account was deleted.');
	await expect(bob.page.getByLabel('Message', { exact: true })).toHaveCount(0);
	await Promise.all([alice.context.close(), bob.context.close()]);
});
