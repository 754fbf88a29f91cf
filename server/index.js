/**
 * Production entry (`npm start`): adapter-node's request handler plus the WebSocket endpoint on
 * one HTTP server, and a graceful shutdown that lets clients resume elsewhere.
 * The chat code itself lives in the SvelteKit build; importing handler.js runs the `init` hook,
 * which opens the database and registers the upgrade handler on globalThis.
 */
import http from 'node:http';
import { log, requestContext, requestId } from './log.js';
import { read } from './settings.js';

let port, host, shutdownTimeoutMs, buildDir;
try {
	port = read(process.env, 'PORT');
	host = read(process.env, 'HOST');
	shutdownTimeoutMs = read(process.env, 'SHUTDOWN_TIMEOUT_MS');
	// BUILD_DIR lets several builds sit side by side (e.g. parallel test runs); it must stay inside
	// the project so the build's externals resolve from node_modules.
	buildDir = read(process.env, 'BUILD_DIR');
} catch (error) {
	exitIfConfigError(error);
	throw error;
}

/** A typo in a setting is the operator's to fix: say which, without a stack trace. */
function exitIfConfigError(error) {
	if (!(error instanceof Error) || error.name !== 'ConfigError') return;
	log.fatal(`Invalid configuration: ${error.message}`);
	process.exit(1);
}

// Without ORIGIN, adapter-node assumes https and every same-site POST over plain http would fail
// the origin check; a local default keeps `npm start` usable, deployments must set ORIGIN.
if (!process.env.ORIGIN && !process.env.PROTOCOL_HEADER) {
	process.env.ORIGIN = `http://localhost:${port}`;
	log.warn(`ORIGIN is not set; assuming ${process.env.ORIGIN}. Set ORIGIN to the public URL in production.`);
}

// Imported only now: adapter-node reads ORIGIN when handler.js loads.
// The app's own settings are read by the `init` hook that this import runs (config.ts).
const { handler } = await import(new URL(`../${buildDir}/handler.js`, import.meta.url).href).catch((error) => {
	exitIfConfigError(error);
	throw error;
});

const runtime = /** @type {import('../src/lib/server/runtime').Runtime} */ (globalThis[Symbol.for('duet.runtime')] ?? {});

/**
 * The last resort for a request or upgrade: whatever a handler throws or rejects with is logged
 * loudly, with enough context to find it, and answered 500 `internal`; it never takes the process
 * down. It is not error handling: every handler answers its own failures, and the tests count on
 * this never firing (they fail on "Unexpected error" in the server's output).
 */
function guard(where, req, target, run) {
	const fail = (error) => {
		const address = req.socket?.remoteAddress ?? 'unknown';
		log.error(
			{ err: error, method: req.method, path: pathOf(req), address },
			`Unexpected error in ${where}: ${req.method} ${pathOf(req)} from ${address}`
		);
		try {
			if (runtime.replyUnexpected) runtime.replyUnexpected(target);
			else target.destroy();
		} catch (replyError) {
			log.error({ err: replyError }, 'Unexpected error while answering it');
			target.destroy();
		}
	};
	try {
		const result = run();
		if (result && typeof result.then === 'function') result.then(undefined, fail);
	} catch (error) {
		fail(error);
	}
}

/** The path without its query, which may carry a cursor, and cut short: what a log line names. */
function pathOf(req) {
	return (req.url ?? '').split('?')[0].slice(0, 200);
}

/**
 * One line per request once it is answered: at info when it failed or was slow, else at debug
 * (a busy server answers thousands of sends a second). Never headers, query strings or bodies.
 */
function logRequest(req, res, startedAt) {
	res.once('finish', () => {
		const ms = Math.round(performance.now() - startedAt);
		const level = res.statusCode >= 400 || ms > 1000 ? 'info' : 'debug';
		if (log.isLevelEnabled(level)) log[level]({ method: req.method, path: pathOf(req), status: res.statusCode, ms }, 'request');
	});
}

// The SSE transport's hot requests (sends, event streams) may be served ahead of SvelteKit; see fast-path.ts.
const server = http.createServer((req, res) => {
	const id = requestId(req.headers['x-request-id']);
	res.setHeader('x-request-id', id);
	requestContext.run({ id }, () => {
		logRequest(req, res, performance.now());
		guard('request', req, res, () => {
			const taken = runtime.request?.(req, res);
			if (!taken) return handler(req, res);
			return taken.then((served) => served || handler(req, res));
		});
	});
});
// Keep-alive sockets idle longer than a typical load balancer's, so it never reuses a closed one.
server.keepAliveTimeout = 65_000;
server.headersTimeout = 66_000;

// Requests node's parser refuses get the protocol's error shape rather than a bare status line.
server.on('clientError', (error, socket) => {
	const inFlight = Boolean(socket._httpMessage?.headersSent);
	if (runtime.replyClientError) runtime.replyClientError(socket, error, inFlight);
	else socket.destroy();
});

let stopping = false;

server.on('upgrade', (req, socket, head) => {
	// A shutting-down instance takes no new sockets: the client retries and lands on another.
	if (!runtime.upgrade || stopping) return void socket.destroy();
	requestContext.run({ id: requestId(req.headers['x-request-id']) }, () =>
		guard('upgrade', req, socket, () => runtime.upgrade?.(req, socket, head))
	);
});

server.listen(port, host, () => {
	const address = server.address();
	const shown = typeof address === 'object' && address ? `${address.address}:${address.port}` : String(address);
	log.info(`Listening on http://${shown}`);
});

/**
 * Stop accepting, let the app close its sockets (WebSockets with 1001, SSE streams ended) and commit
 * what the sequence buffer holds, let in-flight responses (acks of those commits) go out, then exit.
 * A second signal, or the SHUTDOWN_TIMEOUT_MS budget running out, exits at once with code 1.
 */
async function stop(signal) {
	if (stopping) {
		log.error(`${signal} received again; exiting now`);
		process.exit(1);
	}
	stopping = true;
	log.info(`${signal} received: shutting down`);
	const deadline = setTimeout(() => {
		log.error('Shutdown took too long; exiting');
		process.exit(1);
	}, shutdownTimeoutMs);
	deadline.unref();
	const closed = new Promise((resolve) => server.close(resolve));
	try {
		await runtime.shutdown?.();
	} catch (error) {
		log.error({ err: error }, 'Error during shutdown');
	}
	server.closeIdleConnections();
	await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 2000))]);
	server.closeAllConnections();
	clearTimeout(deadline);
	log.info('Shut down cleanly');
	process.exit(0);
}

process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
