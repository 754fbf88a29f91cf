import { existsSync } from 'node:fs';
import net from 'node:net';
import { defineConfig, devices } from '@playwright/test';

/** Debian's Chromium unless CHROMIUM_PATH says otherwise; Playwright's own only as a last resort. */
function chromiumPath(): string | undefined {
	if (process.env.CHROMIUM_PATH) return process.env.CHROMIUM_PATH;
	if (existsSync('/usr/bin/chromium')) return '/usr/bin/chromium';
	return undefined;
}

/** A free port, fixed in the environment (as `name`) so Playwright's worker processes agree on it. */
async function freePort(name: string): Promise<number> {
	if (process.env[name]) return Number(process.env[name]);
	const port = await new Promise<number>((resolve, reject) => {
		const server = net.createServer();
		server.on('error', reject);
		server.listen(0, '127.0.0.1', () => {
			const { port } = server.address() as net.AddressInfo;
			server.close(() => resolve(port));
		});
	});
	process.env[name] = String(port);
	return port;
}

const PORT = await freePort('E2E_PORT');
export const E2E_ORIGIN = `http://127.0.0.1:${PORT}`;
/** Where tests/e2e/previews.spec.ts serves pages to preview: the one host the SSRF guard lets through. */
export const E2E_SITE_PORT = await freePort('E2E_SITE_PORT');

export default defineConfig({
	testDir: 'tests/e2e',
	fullyParallel: false,
	workers: 1,
	retries: process.env.CI ? 1 : 0,
	timeout: 60_000,
	expect: { timeout: 10_000 },
	// The HTML report (playwright-report/) is what the CI workflow uploads when a test fails.
	reporter: [['list'], ['html', { open: 'never' }]],
	outputDir: 'test-results/e2e',
	use: {
		baseURL: E2E_ORIGIN,
		trace: 'retain-on-failure',
		screenshot: 'only-on-failure',
		launchOptions: {
			executablePath: chromiumPath(),
			args: [
				'--disable-gpu',
				'--disable-quic',
				'--no-first-run',
				'--disable-background-networking',
				'--disable-component-update',
				'--disable-sync'
			]
		}
	},
	projects: [{ name: 'chromium', use: { ...devices['Desktop Chrome'] } }],
	webServer: {
		// The production server, as `npm start` runs it, on a throw-away in-memory database.
		command: 'node server/index.js',
		url: `${E2E_ORIGIN}/readyz`,
		reuseExistingServer: false,
		timeout: 120_000,
		env: {
			PORT: String(PORT),
			HOST: '127.0.0.1',
			ORIGIN: E2E_ORIGIN,
			DATABASE_URL: process.env.E2E_DATABASE_URL ?? 'memory://',
			GAP_TIMEOUT_MS: '2000',
			RATE_LIMIT: 'off',
			PREVIEW_ALLOW_PRIVATE_HOSTS: `127.0.0.1:${E2E_SITE_PORT}`
		}
	}
});
