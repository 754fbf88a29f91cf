/**
 * A hostile HTTP proxy for the fallback tests, in plain node:http + net. Plain HTTP is forwarded
 * chunk by chunk (so an SSE stream arrives as it is written, as through a well-configured
 * proxy); WebSocket upgrades get whatever the current mode says:
 *
 * - `refuse`: answered 403, as proxies that do not speak WebSocket do;
 * - `blackhole`: a valid 101 Switching Protocols, then every frame swallowed both ways;
 * - `close`: a valid 101, then the connection closed at once (defeats "upgraded = works");
 * - `pass`: tunnelled to the app server.
 *
 * The mode can change at runtime; it applies to upgrades from then on. The pages are served from
 * the proxy's own origin, so the proxy rewrites `Origin` (and `Host`) to the app's, which the
 * server checks on every state-changing request and upgrade.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';

export type ProxyMode = 'refuse' | 'blackhole' | 'close' | 'pass';

export interface TestProxy {
	origin: string;
	mode: ProxyMode;
	/** Upgrade requests seen, per mode they met. */
	upgrades: Record<ProxyMode, number>;
	close(): Promise<void>;
}

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export async function startProxy(target: string, initial: ProxyMode): Promise<TestProxy> {
	const upstream = new URL(target);
	const port = Number(upstream.port);
	const sockets = new Set<net.Socket>();
	const track = (socket: net.Socket) => {
		sockets.add(socket);
		socket.on('close', () => sockets.delete(socket));
		// A peer vanishing mid-stream is normal here; an unhandled error would kill the runner.
		socket.on('error', () => socket.destroy());
	};

	const rewrite = (headers: http.IncomingHttpHeaders) => {
		const out = { ...headers, host: upstream.host };
		if (out.origin) out.origin = upstream.origin;
		return out;
	};

	const server = http.createServer((req, res) => {
		const forward = http.request(
			{ host: upstream.hostname, port, method: req.method, path: req.url, headers: rewrite(req.headers), agent: false },
			(answer) => {
				res.writeHead(answer.statusCode ?? 502, answer.headers);
				res.flushHeaders();
				answer.pipe(res);
			}
		);
		forward.on('error', () => res.destroy());
		res.on('close', () => forward.destroy());
		req.pipe(forward);
	});
	server.on('connection', track);

	const proxy: TestProxy = {
		origin: '',
		mode: initial,
		upgrades: { refuse: 0, blackhole: 0, close: 0, pass: 0 },
		close: () =>
			new Promise((resolve) => {
				for (const s of sockets) s.destroy();
				server.close(() => resolve());
			})
	};

	server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
		const mode = proxy.mode;
		proxy.upgrades[mode]++;
		if (mode === 'refuse') {
			socket.end(
				'HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\ncontent-length: 25\r\nconnection: close\r\n\r\nWebSockets are not allowed'
			);
			return;
		}
		if (mode === 'blackhole' || mode === 'close') {
			const key = String(req.headers['sec-websocket-key'] ?? '');
			const accept = createHash('sha1')
				.update(key + WS_GUID)
				.digest('base64');
			socket.write(
				`HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ${accept}\r\n\r\n`
			);
			if (mode === 'close') socket.destroy();
			else socket.on('data', () => {});
			return;
		}
		const tunnel = net.connect(port, upstream.hostname);
		track(tunnel);
		tunnel.on('close', () => socket.destroy());
		socket.on('close', () => tunnel.destroy());
		tunnel.on('connect', () => {
			const lines = [`${req.method} ${req.url} HTTP/1.1`];
			for (const [name, value] of Object.entries(rewrite(req.headers))) {
				for (const v of Array.isArray(value) ? value : [value]) if (v !== undefined) lines.push(`${name}: ${v}`);
			}
			tunnel.write(lines.join('\r\n') + '\r\n\r\n');
			if (head.length) tunnel.write(head);
			socket.pipe(tunnel);
			tunnel.pipe(socket);
		});
	});

	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	proxy.origin = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
	return proxy;
}
