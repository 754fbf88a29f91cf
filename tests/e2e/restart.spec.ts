/**
 * The server dies mid-conversation (SIGKILL, no goodbye) and comes back on the same database:
 * nothing acked is lost, nothing is stored twice, and the order holds. This test runs its own
 * server on its own port with an on-disk PGlite, since the shared one cannot be restarted.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import { conversationWith, localBodies, localStatuses, messageWith, send, serverBodies, signUp, waitLive } from './helpers';

const PORT = Number(process.env.E2E_PORT ?? 4173) + 1;
const ORIGIN = `http://127.0.0.1:${PORT}`;

function startServer(dataDir: string): Promise<ChildProcess> {
	const child = spawn(process.execPath, ['server/index.js'], {
		env: {
			...process.env,
			PORT: String(PORT),
			HOST: '127.0.0.1',
			ORIGIN,
			DATABASE_URL: '',
			PGLITE_DIR: dataDir,
			GAP_TIMEOUT_MS: '2000',
			RATE_LIMIT: 'off'
		},
		stdio: ['ignore', 'pipe', 'pipe']
	});
	return new Promise((resolve, reject) => {
		let output = '';
		const onData = (chunk: Buffer) => {
			output += chunk.toString();
			if (output.includes('Listening on')) resolve(child);
		};
		child.stdout!.on('data', onData);
		child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
		child.once('exit', (code) => reject(new Error(`Server exited (${code}) before listening:\n${output}`)));
	});
}

function stopped(child: ChildProcess): Promise<void> {
	return new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())));
}

test('a server killed and restarted mid-stream loses and duplicates nothing', async ({ browser }) => {
	test.setTimeout(120_000);
	const dataDir = mkdtempSync(path.join(tmpdir(), 'duet-restart-'));
	let server = await startServer(dataDir);
	try {
		const alice = await signUp(browser, 'alice', { baseURL: ORIGIN });
		const bob = await signUp(browser, 'bob', { baseURL: ORIGIN });
		const id = await conversationWith(alice, bob);
		await alice.page.goto(`/c/${id}`);
		await bob.page.goto(`/c/${id}`);
		await waitLive(alice.page);
		await waitLive(bob.page);
		// 15 messages are more rows than a window shows: the list is read from the local database.
		const mine = () => localStatuses(alice.page, alice, id);

		const expected: string[] = [];
		for (let i = 1; i <= 5; i++) {
			await send(alice.page, `before ${i}`);
			expected.push(`before ${i}`);
		}
		await expect.poll(() => mine()).not.toContain('sending');

		// Kill it while sends are still in flight, and keep typing while it is down.
		for (let i = 1; i <= 5; i++) {
			await send(alice.page, `during ${i}`);
			expected.push(`during ${i}`);
		}
		server.kill('SIGKILL');
		await stopped(server);
		for (let i = 1; i <= 5; i++) {
			await send(alice.page, `down ${i}`);
			expected.push(`down ${i}`);
		}
		await expect.poll(() => localBodies(alice.page, alice, id)).toEqual(expected);
		await expect(messageWith(alice.page, 'down 5')).toBeVisible();

		server = await startServer(dataDir);
		// Skip the rest of the backoff wait: "online" is one of the client's reconnect triggers.
		for (const page of [alice.page, bob.page]) await page.evaluate(() => dispatchEvent(new Event('online')));
		await waitLive(alice.page);
		await expect.poll(() => mine(), { timeout: 20_000 }).not.toContain('sending');
		expect(await mine()).not.toContain('failed');
		expect(await serverBodies(bob, id)).toEqual(expected);
		await expect.poll(() => localBodies(bob.page, bob, id)).toEqual(expected);
		await expect(messageWith(bob.page, 'down 5')).toBeVisible();

		await alice.context.close();
		await bob.context.close();
	} finally {
		server.kill('SIGTERM');
		await stopped(server);
		rmSync(dataDir, { recursive: true, force: true });
	}
});
