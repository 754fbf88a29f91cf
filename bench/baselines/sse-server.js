/**
 * Baseline for idle SSE memory: a bare node:http server holding text/event-stream responses open
 * with a keepalive comment on the same interval as Duet, and nothing else.
 */
import http from 'node:http';

const port = Number(process.env.PORT ?? 3002);
const keepaliveMs = Number(process.env.SSE_KEEPALIVE_MS ?? 15_000);
const open = new Set();

const server = http.createServer((req, res) => {
	if (req.url === '/readyz') {
		res.writeHead(200, { 'content-type': 'application/json' });
		res.end('{"status":"ready"}');
		return;
	}
	res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
	res.write('event: ready\ndata: {"type":"ready","cursor":"0"}\n\n');
	open.add(res);
	req.on('close', () => open.delete(res));
});
server.keepAliveTimeout = 65_000;

setInterval(() => {
	for (const res of open) res.write(': keepalive\n\n');
}, keepaliveMs).unref();

server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
