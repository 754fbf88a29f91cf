import adapter from '@sveltejs/adapter-node';
import { vitePreprocess } from '@sveltejs/vite-plugin-svelte';

/** @type {import('@sveltejs/kit').Config} */
export default {
	preprocess: vitePreprocess(),
	kit: {
		// BUILD_DIR / KIT_OUT_DIR let parallel runs build without overwriting each other.
		adapter: adapter({ out: process.env.BUILD_DIR ?? 'build' }),
		outDir: process.env.KIT_OUT_DIR ?? '.svelte-kit',
		// src/service-worker.ts is registered by vite-pwa's registerSW (update prompt), not by Kit.
		serviceWorker: { register: false },
		// The offline shell (prerendered once) is served for every route, e.g. /c/<id>: its asset
		// URLs must not be relative to where it was built.
		paths: { relative: false },
		// Our own hook checks Origin on every state-changing request (JSON and forms alike) and
		// answers in the protocol's error shape; Kit's built-in check covers only form bodies, so it
		// stands aside ('*' is how Kit 2.36+ spells the deprecated `checkOrigin: false`).
		csrf: { trustedOrigins: ['*'] },
		// Kit adds nonces/hashes for its own inline scripts, so no 'unsafe-inline' for scripts.
		csp: {
			mode: 'auto',
			directives: {
				'default-src': ['self'],
				'script-src': ['self'],
				// Svelte transitions and Tailwind's runtime-free CSS still set style attributes.
				'style-src': ['self', 'unsafe-inline'],
				'img-src': ['self', 'data:', 'blob:'],
				'font-src': ['self'],
				'connect-src': ['self'],
				'worker-src': ['self'],
				'manifest-src': ['self'],
				'object-src': ['none'],
				'base-uri': ['self'],
				'form-action': ['self'],
				'frame-ancestors': ['none']
			}
		}
	}
};
