/**
 * The admin command's bundle (build/admin.js) and PGlite's worker (build/pglite-worker.js), built after the app by `npm run build`: the same
 * server modules, compiled the same way, with the packages in `dependencies` left external as in
 * the app's own server bundle, so it runs wherever the build runs (the Docker image included).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// As adapter-node does: `dependencies` stay external (the image keeps them); everything else,
// dev dependencies such as markdown-it included, is bundled, since the image prunes those.
const { dependencies } = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8')) as {
	dependencies: Record<string, string>;
};
const external = Object.keys(dependencies);

export default defineConfig({
	resolve: { alias: { $lib: fileURLToPath(new URL('./src/lib', import.meta.url)) } },
	ssr: { noExternal: true, external },
	build: {
		// PGlite's worker thread too: the app starts it from this file (db/index.ts).
		ssr: true,
		outDir: process.env.BUILD_DIR ?? 'build',
		emptyOutDir: false,
		copyPublicDir: false,
		rollupOptions: {
			input: { admin: 'src/lib/server/admin/cli.ts', 'pglite-worker': 'src/lib/server/db/pglite-worker.js' },
			output: { entryFileNames: '[name].js', chunkFileNames: 'admin/[name]-[hash].js' }
		}
	}
});
