import { sveltekit } from '@sveltejs/kit/vite';
import { defineConfig } from 'vitest/config';

export default defineConfig({
	plugins: [sveltekit()],
	test: {
		include: ['src/**/*.spec.ts', 'tests/integration/**/*.test.ts'],
		testTimeout: 30_000,
		hookTimeout: 120_000,
		// Integration files each start a server process; two cores run two at a time comfortably.
		maxWorkers: 2,
		globalSetup: ['tests/integration/global-setup.ts']
	}
});
