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
	const attach = (server: ViteDevServer | PreviewServer, load: () => Promise<Record<string, any>>) => {
		server.httpServer?.on('upgrade', async (req, socket, head) => {
			if (!req.url?.startsWith('/ws')) return;
			const [{ initServices }, { handleUpgrade }] = await Promise.all([
				load().then((m) => m.services),
				load().then((m) => m.ws)
			]);
			await initServices();
			await handleUpgrade(req, socket, head);
		});
	};
	return {
		name: 'duet-websocket',
		configureServer(server) {
			attach(server, async () => ({
				services: await server.ssrLoadModule('/src/lib/server/services.ts'),
				ws: await server.ssrLoadModule('/src/lib/server/ws.ts')
			}));
		}
	};
}

export default defineConfig({
	plugins: [tailwindcss(), sveltekit(), SvelteKitPWA(pwaOptions()), webSocketEndpoint()]
});
