import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SETTINGS } from '../../../server/settings.js';
import { loadConfig } from './config';

const root = path.resolve(__dirname, '../../..');
const declared = Object.keys(SETTINGS) as Array<keyof typeof SETTINGS>;
const documented = declared.filter((name) => !('internal' in SETTINGS[name] && SETTINGS[name].internal));

/** Listed in the docs but read by others, not by Duet's own code. */
const READ_ELSEWHERE = new Set([
	// adapter-node's own (see its env.js); ORIGIN, PROTOCOL_HEADER and HOST_HEADER we read too.
	'ADDRESS_HEADER',
	'XFF_DEPTH',
	'BODY_SIZE_LIMIT',
	// docker compose's: the bundled PostgreSQL's password.
	'POSTGRES_PASSWORD'
]);

/** Variable names in the first column of the README's Configuration table. */
function readmeNames(): string[] {
	const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
	const section = readme.split(/^## Configuration$/m)[1]?.split(/^## /m)[0];
	if (!section) throw new Error('README.md has no "## Configuration" section');
	const rows = section.split('\n').filter((line) => line.startsWith('| `'));
	return rows.flatMap((row) => [...row.split('|')[1].matchAll(/`([A-Z][A-Z0-9_]*)`/g)].map((match) => match[1]));
}

/** Names assigned in .env.example, commented out or not. */
function envExampleNames(): string[] {
	const text = readFileSync(path.join(root, '.env.example'), 'utf8');
	return [...text.matchAll(/^#? ?([A-Z][A-Z0-9_]*)=/gm)].map((match) => match[1]);
}

describe('the settings docs', () => {
	it.each([
		['README.md', readmeNames],
		['.env.example', envExampleNames]
	])('%s lists every setting, and only those', (_, names) => {
		const listed = new Set(names());
		expect(documented.filter((name) => !listed.has(name))).toEqual([]);
		expect([...listed].filter((name) => !(name in SETTINGS) && !READ_ELSEWHERE.has(name))).toEqual([]);
	});
});

describe('loadConfig', () => {
	it('gives the defaults for an empty environment', () => {
		const config = loadConfig({});
		expect(config.gapTimeoutMs).toBe(5000);
		expect(config.rateLimit).toBe(true);
		expect(config.database.answerMs).toBe(config.database.statementMs + 500);
		expect(config.vapidSubject).toBe('mailto:duet@example.invalid');
		expect(config.previewFetchesPerMinute).toBe(20);
		expect(config.registration).toBe('open');
		expect(config.inviteTtlHours).toBe(168);
	});

	it('fails on a typo, naming the variable', () => {
		expect(() => loadConfig({ GAP_TIMEOUT_MS: '5s' })).toThrow(/GAP_TIMEOUT_MS must be an integer/);
		expect(() => loadConfig({ WS_HEARTBEAT_MS: '1e' })).toThrow(/WS_HEARTBEAT_MS/);
		expect(() => loadConfig({ RATE_LIMIT: 'of' })).toThrow(/RATE_LIMIT must be on or off/);
		expect(() => loadConfig({ REGISTRATION: 'invites' })).toThrow('REGISTRATION must be one of open, invite, closed, got "invites"');
		expect(() => loadConfig({ INVITE_TTL_HOURS: '0' })).toThrow(/INVITE_TTL_HOURS must be an integer ≥ 1/);
		expect(() => loadConfig({ ORIGIN: 'chat.example.com' })).toThrow(/ORIGIN must be an http\(s\) URL/);
		expect(() => loadConfig({ ORIGIN: 'localhost:3000' })).toThrow(/ORIGIN must be an http\(s\) URL/);
		expect(() => loadConfig({ DATABASE_DIRECT_URL: 'postgres://db/duet' })).toThrow(/DATABASE_URL is not a postgres:\/\/ URL/);
		expect(() => loadConfig({ DATABASE_URL: 'postgres://pooler/duet', DATABASE_DIRECT_URL: 'db:5432' })).toThrow(
			/DATABASE_DIRECT_URL must be a postgres:\/\/ URL/
		);
		// server/index.js tells these apart by name, to print them without a stack trace.
		expect(() => loadConfig({ DATABASE_STATEMENT_TIMEOUT_MS: '2000', DATABASE_ANSWER_TIMEOUT_MS: '1000' })).toThrow(
			expect.objectContaining({ name: 'ConfigError', message: expect.stringMatching(/DATABASE_ANSWER_TIMEOUT_MS/) })
		);
	});

	it('reads switches and derived values', () => {
		const config = loadConfig({
			RATE_LIMIT: 'off',
			FAST_PATH: 'on',
			ORIGIN: 'https://chat.example.com/',
			DATABASE_STATEMENT_TIMEOUT_MS: '2000'
		});
		expect(config.rateLimit).toBe(false);
		expect(config.fastPath).toBe(true);
		expect(config.origin).toBe('https://chat.example.com');
		expect(config.vapidSubject).toBe('https://chat.example.com');
		expect(config.database.answerMs).toBe(2500);
	});
});

/**
 * Files under src/ that may read process.env: the config module, and specs that pick engines or
 * set variables for the code under test. Nothing else: settings are passed in.
 */
const MAY_READ_ENV = new Set(['src/lib/server/config.ts']);

function sources(dir: string): string[] {
	return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
		const full = path.join(dir, entry.name);
		if (entry.isDirectory()) return sources(full);
		return /\.(ts|js|svelte)$/.test(entry.name) && !/\.(spec|test)\.ts$/.test(entry.name) ? [full] : [];
	});
}

describe('process.env', () => {
	it('is read under src/ only by the config module', () => {
		const readers = sources(path.join(root, 'src'))
			.map((file) => path.relative(root, file).split(path.sep).join('/'))
			.filter(
				(file) => !MAY_READ_ENV.has(file) && /process\.env|import\.meta\.env|\$env\//.test(readFileSync(path.join(root, file), 'utf8'))
			);
		expect(readers).toEqual([]);
	});

	it('is read by server/index.js only for the settings declared as its own', () => {
		const entry = readFileSync(path.join(root, 'server/index.js'), 'utf8');
		const read = new Set([...entry.matchAll(/read\(process\.env, '([A-Z_]+)'\)/g)].map((match) => match[1]));
		const own = declared.filter((name) => 'readBy' in SETTINGS[name] && SETTINGS[name].readBy === 'server/index.js');
		expect([...read].sort()).toEqual([...own].sort());
		// Besides those, only ORIGIN's local default (and the PROTOCOL_HEADER that rules it out).
		const direct = new Set([...entry.matchAll(/process\.env\.([A-Z_]+)/g)].map((match) => match[1]));
		expect([...direct].sort()).toEqual(['ORIGIN', 'PROTOCOL_HEADER']);
	});
});
