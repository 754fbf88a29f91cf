/**
 * Production entry (`npm start`): adapter-node's request handler plus the WebSocket endpoint on
 * one HTTP server, and a graceful shutdown that lets clients resume elsewhere.
 * The chat code itself lives in the SvelteKit build; importing handler.js runs the `init` hook,
 * which opens the database and registers the upgrade handler on globalThis.
 */
import http from 'node:http';

const port = Number(process.env.PORT ?? 3000);
const host = process.env.HOST ?? '0.0.0.0';
const shutdownTimeoutMs = Number(process.env.SHUTDOWN_TIMEOUT_MS ?? 10_000);

// Without ORIGIN, adapter-node assumes https and every same-site POST over plain http would fail
// the origin check; a local default keeps `npm start` usable, deployments must set ORIGIN.
if (!process.env.ORIGIN && !process.env.PROTOCOL_HEADER) {
	process.env.ORIGIN = `http://localhost:${port}`;
	console.warn(`ORIGIN is not set; assuming ${process.env.ORIGIN}. Set ORIGIN to the public URL in production.`);
}

// Imported only now: adapter-node reads ORIGIN when handler.js loads.
// BUILD_DIR lets several builds sit side by side (e.g. parallel test runs); it must stay inside
// the project so the build's externals resolve from node_modules.
const buildDir = process.env.BUILD_DIR ?? 'build';
const { handler } = await import(new URL(`../${buildDir}/handler.js`, import.meta.url).href);

const runtime = /** @type {{ upgrade?: Function, request?: Function, shutdown?: () => Promise<void> }} */ (
	globalThis[Symbol.for('duet.runtime')] ?? {}
);

// The SSE transport's hot requests (sends, event streams) may be served ahead of SvelteKit; see fast-path.ts.
const server = http.createServer((req, res) => {
	const taken = runtime.request?.(req, res);
	if (!taken) return handler(req, res);
	taken.then(
		(served) => served || handler(req, res),
		() => handler(req, res)
	);
});
// Keep-alive sockets idle longer than a typical load balancer's, so it never reuses a closed one.
server.keepAliveTimeout = 65_000;
server.headersTimeout = 66_000;

let stopping = false;

server.on('upgrade', (req, socket, head) => {
	// A shutting-down instance takes no new sockets: the client retries and lands on another.
	if (runtime.upgrade && !stopping) runtime.upgrade(req, socket, head);
	else socket.destroy();
});

server.listen(port, host, () => {
	const address = server.address();
	const shown = typeof address === 'object' && address ? `${address.address}:${address.port}` : String(address);
	console.log(`Listening on http://${shown}`);
});

/**
 * Stop accepting, let the app close its sockets (WebSockets with 1001, SSE streams ended) and commit
 * what the sequence buffer holds, let in-flight responses (acks of those commits) go out, then exit.
 * A second signal, or the SHUTDOWN_TIMEOUT_MS budget running out, exits at once with code 1.
 */
async function stop(signal) {
	if (stopping) {
		console.error(`${signal} received again; exiting now`);
		process.exit(1);
	}
	stopping = true;
	console.log(`${signal} received: shutting down`);
	const deadline = setTimeout(() => {
		console.error('Shutdown took too long; exiting');
		process.exit(1);
	}, shutdownTimeoutMs);
	deadline.unref();
	const closed = new Promise((resolve) => server.close(resolve));
	try {
		await runtime.shutdown?.();
	} catch (error) {
		console.error('Error during shutdown:', error);
	}
	server.closeIdleConnections();
	await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 2000))]);
	server.closeAllConnections();
	clearTimeout(deadline);
	console.log('Shut down cleanly');
	process.exit(0);
}

process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
