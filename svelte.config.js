import adapter from '@sveltejs/adapter-node';
import { vitePreprocess } from '@sveltejs/vite-plugin-svelte';

/** @type {import('@sveltejs/kit').Config} */
export default {
	preprocess: vitePreprocess(),
	kit: {
		adapter: adapter(),
		// Our own hook checks Origin on every state-changing request (JSON and forms alike) and
		// answers in the protocol's error shape; Kit's built-in check covers only form bodies.
		csrf: { checkOrigin: false }
	}
};
