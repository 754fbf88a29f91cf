import type { SvelteKitPWAOptions } from '@vite-pwa/sveltekit';

/**
 * The PWA build: our own service worker (src/service-worker.ts, built by Kit, precache manifest
 * injected by vite-pwa) because it must answer offline navigations and data requests in ways
 * generateSW cannot express, and handle push and background sync.
 */
export function pwaOptions(): SvelteKitPWAOptions {
	const kitOut = process.env.KIT_OUT_DIR ?? '.svelte-kit';
	return {
		strategies: 'injectManifest',
		srcDir: 'src',
		filename: 'service-worker.ts',
		registerType: 'prompt',
		// Registration happens in PwaControls.svelte through virtual:pwa-register/svelte; an
		// injected inline script would break the CSP.
		injectRegister: false,
		// KIT_OUT_DIR builds must read (and inject into) their own Kit output.
		outDir: `${kitOut}/output`,
		kit: { outDir: kitOut, includeVersionFile: true },
		manifest: {
			id: '/',
			name: 'Duet',
			short_name: 'Duet',
			description: 'Real-time 1:1 chat that works offline.',
			start_url: '/',
			scope: '/',
			display: 'standalone',
			theme_color: '#4f46e5',
			background_color: '#f8fafc',
			icons: [
				{ src: '/icons/icon-192.png', sizes: '192x192', type: 'image/png', purpose: 'any' },
				{ src: '/icons/icon-512.png', sizes: '512x512', type: 'image/png', purpose: 'any' },
				{ src: '/icons/maskable-512.png', sizes: '512x512', type: 'image/png', purpose: 'maskable' },
				{ src: '/icons/apple-touch-icon.png', sizes: '180x180', type: 'image/png' }
			]
		},
		injectManifest: {
			// The emoji picker's data is a hashed JSON asset: precached, the full picker works offline
			// too. Only immutable assets: `_app/version.json` must always come from the network.
			globPatterns: [
				'client/**/*.{js,css,ico,png,svg,webp,woff2,webmanifest}',
				'client/_app/immutable/assets/*.json',
				'prerendered/**/*.html'
			]
		},
		devOptions: { enabled: false }
	};
}
