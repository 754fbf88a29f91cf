/**
 * A local HTTP site for the previews specs, with the guard's allow-list naming it (the only way a
 * loopback address gets past the SSRF guard). Started in beforeAll, closed in afterAll.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll } from 'vitest';

export function localSite(handler: http.RequestListener): { readonly origin: string; readonly allow: Set<string> } {
	const site = { origin: '', allow: new Set<string>() };
	let server: http.Server;
	beforeAll(async () => {
		server = http.createServer(handler);
		await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
		const { port } = server.address() as AddressInfo;
		site.origin = `http://127.0.0.1:${port}`;
		site.allow = new Set([`127.0.0.1:${port}`]);
	});
	afterAll(async () => {
		server.closeAllConnections();
		await new Promise((resolve) => server.close(resolve));
	});
	return site;
}
