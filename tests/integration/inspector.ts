/**
 * Asks a server started with `--inspect=127.0.0.1:0` what it keeps: a full garbage collection
 * first, then the heap in use plus memory outside it (buffers). Unlike RSS, this does not move
 * with how lazily V8 and malloc give memory back, so a bound on it can be tight and still never flaky.
 */
import WebSocket from 'ws';
import type { TestServer } from './harness';

export const INSPECT = ['--inspect=127.0.0.1:0'];

export async function retainedBytes(server: TestServer): Promise<number> {
	const url = /Debugger listening on (ws:\/\/\S+)/.exec(server.output())?.[1];
	if (!url) throw new Error('the server was not started with INSPECT');
	const socket = new WebSocket(url);
	await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
	let nextId = 0;
	const call = (method: string, params: object = {}) =>
		new Promise<any>((resolve, reject) => {
			const id = ++nextId;
			const onMessage = (data: WebSocket.RawData) => {
				const reply = JSON.parse(String(data));
				if (reply.id !== id) return;
				socket.off('message', onMessage);
				if (reply.error) reject(new Error(reply.error.message));
				else resolve(reply.result);
			};
			socket.on('message', onMessage);
			socket.send(JSON.stringify({ id, method, params }));
		});
	try {
		await call('HeapProfiler.collectGarbage');
		const { result } = await call('Runtime.evaluate', {
			expression: 'JSON.stringify(process.memoryUsage())',
			returnByValue: true
		});
		const usage = JSON.parse(result.value) as NodeJS.MemoryUsage;
		return usage.heapUsed + usage.external;
	} finally {
		socket.close();
	}
}
