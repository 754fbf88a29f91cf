import { sveltekit } from '@sveltejs/kit/vite';
import tailwindcss from '@tailwindcss/vite';
import { SvelteKitPWA } from '@vite-pwa/sveltekit';
import { defineConfig, type Plugin, type ViteDevServer, type PreviewServer } from 'vite';
import { pwaOptions } from './pwa.config.ts';

/**
 * Mounts /ws on Vite's own HTTP server in dev and preview, through the same module production
 * uses; every other upgrade (Vite's HMR socket) is left alone.
 */
function webSocketEndpoint(): Plugin {
	const attach = (
		server: ViteDevServer | PreviewServer,
		load: () => Promise<{ services: typeof import('./src/lib/server/services'); ws: typeof import('./src/lib/server/ws') }>
	) => {
		server.httpServer?.on('upgrade', (req, socket, head) => {
			if (!req.url?.startsWith('/ws')) return;
			// As server/index.js guards production: a failure here is logged and the socket closed,
			// never an unhandled rejection that stops the dev server.
			(async () => {
				const { services, ws } = await load();
				await ws.handleUpgrade(await services.initServices(), req, socket, head);
			})().catch((error) => {
				console.error(`Unexpected error in upgrade: ${req.url?.slice(0, 200)}:`, error);
				socket.destroy();
			});
		});
	};
	return {
		name: 'duet-websocket',
		configureServer(server) {
			attach(server, async () => ({
				services: (await server.ssrLoadModule('/src/lib/server/services.ts')) as typeof import('./src/lib/server/services'),
				ws: (await server.ssrLoadModule('/src/lib/server/ws.ts')) as typeof import('./src/lib/server/ws')
			}));
		}
	};
}

export default defineConfig({
	plugins: [tailwindcss(), sveltekit(), SvelteKitPWA(pwaOptions()), webSocketEndpoint()],
	optimizeDeps: {
		// Imported only by modules the app loads on demand, which the dev server's first scan does
		// not find: discovered on the first chat opened, they made it re-bundle and reload the page.
		include: ['dexie', 'markdown-it', 'dompurify', 'emoji-picker-element/picker.js']
	}
});
