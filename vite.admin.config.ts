/**
 * The admin command's bundle (build/admin.js), built after the app by `npm run build`: the same
 * server modules, compiled the same way, with the packages in `dependencies` left external as in
 * the app's own server bundle, so it runs wherever the build runs (the Docker image included).
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
	resolve: { alias: { $lib: fileURLToPath(new URL('./src/lib', import.meta.url)) } },
	build: {
		ssr: 'src/lib/server/admin/cli.ts',
		outDir: process.env.BUILD_DIR ?? 'build',
		emptyOutDir: false,
		copyPublicDir: false,
		rollupOptions: { output: { entryFileNames: 'admin.js', chunkFileNames: 'admin/[name]-[hash].js' } }
	}
});
