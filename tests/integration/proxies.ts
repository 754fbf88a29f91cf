/**
 * Misbehaving networks for fault tests: a TCP proxy that can be cut and restored (a database
 * going away), and a WebSocket proxy that drops a share of the frames in both directions.
 */
import net from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';

export type CutMode = 'reset' | 'blackhole';

export interface TcpProxy {
	port: number;
	/**
	 * 'reset' (the default): drops every open connection and refuses new ones, as a database that
	 * went down does. 'blackhole': keeps every connection open and accepts new ones, but silently
	 * drops every byte both ways, as a lost route or a stalled firewall does: nothing ever answers
	 * and nothing ever closes, so only the client's own deadlines notice.
	 */
	cut(mode?: CutMode): void;
	/** Lets traffic through again; connections that were blackholed are reset (their state is gone). */
	restore(): void;
	close(): Promise<void>;
}

interface Pair {
	client: net.Socket;
	upstream?: net.Socket;
	holed: boolean;
}

export async function startTcpProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
	const pairs = new Set<Pair>();
	let state: 'open' | CutMode = 'open';
	const drop = (pair: Pair) => {
		pair.client.destroy();
		pair.upstream?.destroy();
		pairs.delete(pair);
	};
	const server = net.createServer((client) => {
		if (state === 'reset') {
			client.destroy();
			return;
		}
		const pair: Pair = { client, holed: state === 'blackhole' };
		pairs.add(pair);
		client.on('error', () => drop(pair)).on('close', () => drop(pair));
		if (pair.holed) return; // accepted, and never answered
		const upstream = net.connect(targetPort, targetHost);
		pair.upstream = upstream;
		upstream.on('error', () => drop(pair)).on('close', () => drop(pair));
		// Forwarded by hand rather than piped, so a blackhole can swallow bytes mid-stream.
		client.on('data', (chunk) => pair.holed || upstream.write(chunk));
		upstream.on('data', (chunk) => pair.holed || client.write(chunk));
	});
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	return {
		port: (server.address() as net.AddressInfo).port,
		cut(mode = 'reset') {
			state = mode;
			for (const pair of pairs) {
				if (mode === 'reset') drop(pair);
				else pair.holed = true;
			}
		},
		restore() {
			state = 'open';
			for (const pair of pairs) if (pair.holed) drop(pair);
		},
		close: () =>
			new Promise((resolve) => {
				for (const pair of pairs) drop(pair);
				server.close(() => resolve());
			})
	};
}

/** Deterministic pseudo-random numbers, so a failing run can be replayed with its seed. */
export function seededRandom(seed: number) {
	let state = seed >>> 0 || 1;
	return () => {
		state ^= state << 13;
		state ^= state >>> 17;
		state ^= state << 5;
		return (state >>> 0) / 2 ** 32;
	};
}

export interface LossyProxy {
	port: number;
	dropped: { up: number; down: number };
	close(): Promise<void>;
}

/** Relays WebSocket messages to `targetOrigin`/ws, dropping each with probability `dropRate`. */
export async function startLossyWsProxy(targetOrigin: string, dropRate: number, seed = 42): Promise<LossyProxy> {
	const random = seededRandom(seed);
	const dropped = { up: 0, down: 0 };
	const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
	wss.on('connection', (client, req) => {
		const upstream = new WebSocket(targetOrigin.replace(/^http/, 'ws') + (req.url ?? '/ws'), {
			headers: { cookie: req.headers.cookie ?? '', origin: targetOrigin }
		});
		const pending: string[] = [];
		upstream.on('open', () => pending.splice(0).forEach((m) => upstream.send(m)));
		client.on('message', (data) => {
			// Pings are let through: the test is about losing chat frames, not the link itself.
			const text = data.toString();
			if (!text.includes('"ping"') && random() < dropRate) {
				dropped.up++;
				return;
			}
			if (upstream.readyState === WebSocket.OPEN) upstream.send(text);
			else pending.push(text);
		});
		upstream.on('message', (data) => {
			const text = data.toString();
			const control = text.includes('"type":"ready"') || text.includes('"type":"reset"') || text.includes('"type":"pong"');
			if (!control && random() < dropRate) {
				dropped.down++;
				return;
			}
			if (client.readyState === WebSocket.OPEN) client.send(text);
		});
		const closeBoth = () => {
			client.close();
			upstream.close();
		};
		client.on('close', closeBoth).on('error', closeBoth);
		upstream.on('close', closeBoth).on('error', closeBoth);
	});
	await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
	return {
		port: (wss.address() as net.AddressInfo).port,
		dropped,
		close: () =>
			new Promise((resolve) => {
				for (const c of wss.clients) c.terminate();
				wss.close(() => resolve());
			})
	};
}
