/**
 * deploy.sh's decisions, with the docker CLI and curl replaced by test doubles on PATH
 * (fixtures/deploy-bin): no Docker engine runs on the test machines, so what is proved here is the
 * script's logic (refuse a bad .env, back up before starting, keep a ready image, roll back one
 * that is not, change nothing when run again); the real run is on the VPS (docs/deploy.md).
 */
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeEach, describe, expect, test } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
const FAKE_BIN = path.join(ROOT, 'tests/integration/fixtures/deploy-bin');
const GOOD_ENV = 'ORIGIN=https://chat.example.com\nPOSTGRES_PASSWORD=4f9a1c0e7b2d\nPORT=8080\n';

interface Run {
	code: number;
	stdout: string;
	stderr: string;
}

let dir: string;
let fake: string;

function deploy(args: string[] = [], env: Record<string, string> = {}): Promise<Run> {
	return new Promise((resolve) => {
		execFile(
			'bash',
			[path.join(dir, 'deploy.sh'), ...args],
			{
				cwd: dir,
				env: {
					PATH: `${FAKE_BIN}:${process.env.PATH}`,
					HOME: dir,
					FAKE_DOCKER: fake,
					READY_ATTEMPTS: '3',
					READY_INTERVAL: '0',
					...env
				}
			},
			(error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr })
		);
	});
}

const calls = () => (existsSync(path.join(fake, 'calls')) ? readFileSync(path.join(fake, 'calls'), 'utf8').trim().split('\n') : []);
const running = () => readFileSync(path.join(fake, 'running'), 'utf8').trim();
const backups = () => (existsSync(path.join(dir, 'backups')) ? readdirSync(path.join(dir, 'backups')) : []);
const appStarts = () => calls().filter((line) => line.startsWith('compose up -d --no-build app'));

beforeEach(() => {
	dir = mkdtempSync(path.join(tmpdir(), 'duet-deploy-'));
	fake = mkdtempSync(path.join(tmpdir(), 'duet-fake-docker-'));
	copyFileSync(path.join(ROOT, 'deploy.sh'), path.join(dir, 'deploy.sh'));
	copyFileSync(path.join(ROOT, 'docker-compose.yml'), path.join(dir, 'docker-compose.yml'));
	writeFileSync(path.join(dir, '.env'), GOOD_ENV);
});

describe('deploy.sh', () => {
	test('pulls the image, backs the database up before starting it, waits for /readyz and keeps it', async () => {
		const run = await deploy(['ghcr.io/acme/duet:aaa']);
		expect(run.stderr).toBe('');
		expect(run.code).toBe(0);
		expect(run.stdout).toContain('ghcr.io/acme/duet:aaa is ready on port 8080; kept');
		const log = calls();
		const backupAt = log.findIndex((line) => line.startsWith('compose exec -T db pg_dump'));
		const startAt = log.indexOf('compose up -d --no-build app');
		expect(log[0]).toBe('compose version');
		expect(log).toContain('pull ghcr.io/acme/duet:aaa');
		expect(backupAt).toBeGreaterThan(-1);
		expect(startAt).toBeGreaterThan(backupAt);
		expect(log.slice(startAt)).toContain('curl http://127.0.0.1:8080/readyz');
		expect(running()).toBe('ghcr.io/acme/duet:aaa');
		expect(backups()).toHaveLength(1);
		expect(readFileSync(path.join(dir, 'backups', backups()[0]), 'utf8')).toContain('PGDMP');
	});

	test('run again for the image that runs and is ready, it changes nothing', async () => {
		expect((await deploy(['ghcr.io/acme/duet:aaa'])).code).toBe(0);
		const before = calls().length;
		const again = await deploy(['ghcr.io/acme/duet:aaa']);
		expect(again.code).toBe(0);
		expect(again.stdout).toContain('already runs and is ready; nothing to do');
		const since = calls().slice(before);
		expect(since.some((line) => line.startsWith('compose up') || line.includes('pg_dump'))).toBe(false);
		expect(backups()).toHaveLength(1);
	});

	test('a new image that never becomes ready is rolled back to the previous one, and the run fails', async () => {
		expect((await deploy(['ghcr.io/acme/duet:aaa'])).code).toBe(0);
		const run = await deploy(['ghcr.io/acme/duet:bbb'], { FAKE_UNREADY: 'ghcr.io/acme/duet:bbb' });
		expect(run.code).toBe(1);
		expect(run.stdout).toContain('did not become ready');
		expect(run.stdout).toContain('rolling back to ghcr.io/acme/duet:aaa');
		expect(run.stderr).toContain('rolled back: ghcr.io/acme/duet:aaa runs and is ready');
		expect(running()).toBe('ghcr.io/acme/duet:aaa');
		expect(appStarts()).toHaveLength(3);
		// The failed image is not remembered: the next run deploys it again rather than calling it current.
		expect(readFileSync(path.join(dir, '.deploy/current'), 'utf8').trim()).toBe('ghcr.io/acme/duet:aaa');
		// A fixed image of the same tag deploys on the next run.
		const retry = await deploy(['ghcr.io/acme/duet:bbb']);
		expect(retry.code).toBe(0);
		expect(running()).toBe('ghcr.io/acme/duet:bbb');
		expect(readFileSync(path.join(dir, '.deploy/previous'), 'utf8').trim()).toBe('ghcr.io/acme/duet:aaa');
	});

	test('the first deploy that never becomes ready fails, with nothing to roll back to', async () => {
		const run = await deploy(['ghcr.io/acme/duet:aaa'], { FAKE_UNREADY: 'ghcr.io/acme/duet:aaa' });
		expect(run.code).toBe(1);
		expect(run.stderr).toContain('no previous image to roll back to');
		expect(existsSync(path.join(dir, '.deploy/current'))).toBe(false);
	});

	test('without an image it builds one from the checkout, once', async () => {
		const run = await deploy();
		expect(run.code).toBe(0);
		expect(calls()).toContain('build -t duet:local .');
		expect(running()).toBe('duet:local');
		expect((await deploy()).stdout).toContain('nothing to do');
		expect(calls().filter((line) => line.startsWith('build'))).toHaveLength(1);
	});

	test.each([
		['no ORIGIN', 'POSTGRES_PASSWORD=4f9a1c0e7b2d\n', 'set ORIGIN'],
		["the example's ORIGIN", 'ORIGIN=http://localhost:3000\nPOSTGRES_PASSWORD=4f9a1c0e7b2d\n', "still the example's"],
		['an ORIGIN that is no URL', 'ORIGIN=chat.example.com\nPOSTGRES_PASSWORD=4f9a1c0e7b2d\n', 'must be a URL'],
		['no POSTGRES_PASSWORD', 'ORIGIN=https://chat.example.com\nPOSTGRES_PASSWORD=\n', 'set POSTGRES_PASSWORD'],
		['a default POSTGRES_PASSWORD', 'ORIGIN=https://chat.example.com\nPOSTGRES_PASSWORD="postgres"\n', 'well-known default']
	])('refuses a .env with %s, before touching anything', async (_, env, message) => {
		writeFileSync(path.join(dir, '.env'), env);
		const run = await deploy(['ghcr.io/acme/duet:aaa']);
		expect(run.code).toBe(1);
		expect(run.stderr).toContain(message);
		expect(calls()).toEqual(['compose version']);
	});

	test('reads .env as data: a command in it is never run', async () => {
		writeFileSync(path.join(dir, '.env'), `${GOOD_ENV}EVIL=$(touch ${dir}/pwned)\n`);
		expect((await deploy(['ghcr.io/acme/duet:aaa'])).code).toBe(0);
		expect(existsSync(path.join(dir, 'pwned'))).toBe(false);
	});

	test('refuses without a .env', async () => {
		rmSync(path.join(dir, '.env'));
		const run = await deploy(['ghcr.io/acme/duet:aaa']);
		expect(run.code).toBe(1);
		expect(run.stderr).toContain('no .env');
		expect(calls()).toEqual(['compose version']);
	});

	test('a failed backup or pull stops before the running version is touched', async () => {
		expect((await deploy(['ghcr.io/acme/duet:aaa'])).code).toBe(0);
		const noBackup = await deploy(['ghcr.io/acme/duet:bbb'], { FAKE_BACKUP_FAILS: '1' });
		expect(noBackup.code).toBe(1);
		expect(noBackup.stderr).toContain('the backup failed; nothing was changed');
		expect(running()).toBe('ghcr.io/acme/duet:aaa');
		expect(backups()).toHaveLength(1);
		const noPull = await deploy(['ghcr.io/acme/duet:ccc'], { FAKE_MISSING: 'ghcr.io/acme/duet:ccc' });
		expect(noPull.code).toBe(1);
		expect(noPull.stderr).toContain('could not pull');
		expect(appStarts()).toHaveLength(1);
	});

	test('keeps only the newest KEEP_BACKUPS backups', async () => {
		mkdirSync(path.join(dir, 'backups'));
		const old = ['duet-20240101T000000Z.dump', 'duet-20250101T000000Z.dump', 'duet-20260101T000000Z.dump'];
		for (const file of old) writeFileSync(path.join(dir, 'backups', file), 'PGDMP old');
		writeFileSync(path.join(dir, 'backups', 'notes.txt'), 'not a backup');
		const run = await deploy(['ghcr.io/acme/duet:aaa'], { KEEP_BACKUPS: '2' });
		expect(run.code).toBe(0);
		expect(run.stdout).toContain('removed 2 backup(s)');
		const kept = backups().sort();
		expect(kept).toHaveLength(3);
		expect(kept).toContain('duet-20260101T000000Z.dump');
		expect(kept).toContain('notes.txt');
		expect(kept.filter((file) => file.startsWith('duet-2024') || file.startsWith('duet-2025'))).toEqual([]);
	});
});
