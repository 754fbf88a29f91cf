/**
 * Baseline (a): a bare `ws` 1:1 relay with no auth and no database, doing the transport work Duet
 * does per message (parse the frame, ack the sender, push a message event to the peer and an echo
 * to the sender, numbering each conversation) and nothing else. It answers /readyz for start-up
 * detection and pings idle sockets on the same heartbeat as Duet, for the idle-memory baseline.
 */
import http from 'node:http';
import { WebSocketServer } from 'ws';

const port = Number(process.env.PORT ?? 3001);
const heartbeatMs = Number(process.env.WS_HEARTBEAT_MS ?? 30_000);

const sockets = new Map();
const conversationSeq = new Map();
const userSeq = new Map();

const server = http.createServer((req, res) => {
	res.writeHead(req.url === '/readyz' ? 200 : 404, { 'content-type': 'application/json' });
	res.end('{"status":"ready"}');
});
const wss = new WebSocketServer({ server, perMessageDeflate: false, clientTracking: false, maxPayload: 64 * 1024 });
const alive = new Map();

function deliver(userId, event) {
	const seq = (userSeq.get(userId) ?? 0) + 1;
	userSeq.set(userId, seq);
	const text = JSON.stringify({ ...event, cursor: String(seq) });
	for (const ws of sockets.get(userId) ?? []) ws.send(text);
}

wss.on('connection', (ws, req) => {
	const userId = new URL(req.url, 'http://x').searchParams.get('user') ?? 'anonymous';
	let set = sockets.get(userId);
	if (!set) sockets.set(userId, (set = new Set()));
	set.add(ws);
	alive.set(ws, true);
	ws.on('pong', () => alive.set(ws, true));
	ws.on('message', (data) => {
		let frame;
		try {
			frame = JSON.parse(data.toString());
		} catch {
			ws.send('{"type":"error","code":"bad_request","message":"Frames must be JSON text."}');
			return;
		}
		if (frame.type !== 'send') return;
		const seq = (conversationSeq.get(frame.conversationId) ?? 0) + 1;
		conversationSeq.set(frame.conversationId, seq);
		const createdAt = new Date().toISOString();
		const message = {
			id: frame.id,
			conversationId: frame.conversationId,
			seq,
			senderId: userId,
			clientId: frame.clientId,
			clientSeq: frame.clientSeq,
			body: frame.body,
			createdAt
		};
		ws.send(JSON.stringify({ type: 'ack', id: frame.id, conversationId: frame.conversationId, seq, createdAt }));
		deliver(frame.to, { type: 'message', message });
		deliver(userId, { type: 'message', message });
	});
	ws.on('close', () => {
		set.delete(ws);
		alive.delete(ws);
	});
	ws.send(JSON.stringify({ type: 'ready', cursor: '0', user: { id: userId, username: userId } }));
});

setInterval(() => {
	for (const [ws, ok] of alive) {
		if (!ok) {
			ws.terminate();
			continue;
		}
		alive.set(ws, false);
		ws.ping();
	}
}, heartbeatMs).unref();

server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
