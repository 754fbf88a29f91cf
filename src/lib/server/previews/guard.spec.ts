import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { METADATA_ADDRESSES, refusedAddress } from './addresses';
import { guardedGet, PREVIEW_LIMITS, PreviewFetchError, vet, type GetOptions, type Resolver } from './guard';

/** A resolver that answers from a table, as DNS would, and counts the questions. */
function fakeDns(table: Record<string, string[]>) {
	const resolve = vi.fn<Resolver>(async (hostname) => {
		const addresses = table[hostname];
		if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
		return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
	});
	return resolve;
}

async function reason(promise: Promise<unknown>): Promise<string> {
	try {
		await promise;
	} catch (error) {
		if (error instanceof PreviewFetchError) return error.reason;
		throw error;
	}
	return 'allowed';
}

const REFUSED = {
	loopback: ['127.0.0.1', '127.255.255.254', '::1'],
	private: ['10.0.0.1', '172.16.0.1', '172.31.255.255', '192.168.1.1', 'fc00::1', 'fd12:3456::1'],
	'link-local': ['169.254.0.1', 'fe80::1'],
	unspecified: ['0.0.0.0', '0.1.2.3', '::'],
	multicast: ['224.0.0.1', '239.255.255.250', 'ff02::1'],
	broadcast: ['255.255.255.255'],
	'reserved (240/4)': ['240.0.0.1'],
	CGNAT: ['100.64.0.1', '100.127.255.254'],
	benchmarking: ['198.18.0.1', '198.19.255.254', '2001:2::1'],
	documentation: ['192.0.2.1', '198.51.100.7', '203.0.113.9', '2001:db8::1'],
	metadata: METADATA_ADDRESSES,
	'IPv4-mapped': ['::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:10.0.0.1', '::ffff:169.254.169.254', '0:0:0:0:0:ffff:c0a8:0101'],
	'IPv4-translated (RFC 6145)': ['::ffff:0:7f00:1', '::ffff:0:a00:1'],
	'NAT64 (64:ff9b::/96)': ['64:ff9b::7f00:1', '64:ff9b::10.0.0.1', '64:ff9b::a9fe:a9fe'],
	'6to4 of a private IPv4': ['2002:7f00:1::1', '2002:c0a8:101::1'],
	teredo: ['2001:0:4136:e378:8000:63bf:3fff:fdd2'],
	'zone id': ['fe80::1%eth0'],
	'not an address': ['', 'localhost', '1.2.3', '::g']
};

describe('refusedAddress', () => {
	it.each(Object.entries(REFUSED).flatMap(([kind, list]) => list.map((address) => [kind, address])))('refuses %s %s', (_, address) => {
		expect(refusedAddress(address)).not.toBeNull();
	});

	it.each(['93.184.216.34', '8.8.8.8', '1.1.1.1', '2606:4700:4700::1111', '::ffff:8.8.8.8', '64:ff9b::808:808', '2002:808:808::1'])(
		'lets public %s through',
		(address) => {
			expect(refusedAddress(address)).toBeNull();
		}
	);
});

describe('vet', () => {
	const resolve = fakeDns({
		'example.com': ['93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946'],
		'private.example': ['10.0.0.5'],
		'loopback6.example': ['::1'],
		'mapped.example': ['::ffff:169.254.169.254'],
		'nat64.example': ['64:ff9b::c0a8:0001'],
		// One public address is not enough when another is not: the client may fall back to it.
		'mixed.example': ['93.184.216.34', '127.0.0.1'],
		'empty.example': []
	});

	it.each([
		// Every IPv4 notation the URL parser accepts ends up as dotted decimal, and is judged so.
		'http://2130706433/',
		'http://0x7f000001/',
		'http://0177.0.0.1/',
		'http://0x7f.1/',
		'http://127.1/',
		'http://0/',
		'http://0.0.0.0/',
		'http://[::1]/',
		'http://[::ffff:127.0.0.1]/',
		'http://[::ffff:7f00:1]/',
		'http://[0:0:0:0:0:ffff:127.0.0.1]/',
		'http://[64:ff9b::127.0.0.1]/',
		'http://169.254.169.254/latest/meta-data/',
		'http://[fd00:ec2::254]/',
		'http://10.1.2.3/',
		'http://192.168.0.1/'
	])('refuses the literal %s without asking DNS', async (url) => {
		resolve.mockClear();
		expect(await reason(vet(new URL(url), { resolve }))).toBe('refused');
		expect(resolve).not.toHaveBeenCalled();
	});

	it.each([
		'http://localhost/',
		'http://LOCALHOST./',
		'http://api.localhost/',
		'http://printer.local/',
		'http://metadata.google.internal/',
		'http://router.home.arpa/',
		'http://intranet/'
	])('refuses the local name %s without asking DNS', async (url) => {
		resolve.mockClear();
		expect(await reason(vet(new URL(url), { resolve }))).toBe('refused');
		expect(resolve).not.toHaveBeenCalled();
	});

	it.each([
		'http://private.example/',
		'http://loopback6.example/',
		'http://mapped.example/',
		'http://nat64.example/',
		'http://mixed.example/'
	])('refuses %s, whose DNS answer holds a non-public address', async (url) => {
		expect(await reason(vet(new URL(url), { resolve }))).toBe('refused');
	});

	it('gives a public name the address it checked', async () => {
		await expect(vet(new URL('https://example.com/a?b'), { resolve })).resolves.toMatchObject({ address: '93.184.216.34', family: 4 });
		await expect(vet(new URL('http://[2606:4700:4700::1111]/'), { resolve })).resolves.toMatchObject({
			address: '2606:4700:4700::1111',
			family: 6
		});
	});

	it('fetches from ports 80 and 443 only', async () => {
		resolve.mockClear();
		expect(await reason(vet(new URL('http://example.com:8080/'), { resolve }))).toBe('refused');
		expect(await reason(vet(new URL('https://example.com:22/'), { resolve }))).toBe('refused');
		expect(resolve).not.toHaveBeenCalled();
		expect(await reason(vet(new URL('https://example.com:443/'), { resolve }))).toBe('allowed');
		expect(await reason(vet(new URL('http://example.com:80/'), { resolve }))).toBe('allowed');
	});

	it('counts a name that does not resolve as a network failure', async () => {
		expect(await reason(vet(new URL('http://nowhere.example/'), { resolve }))).toBe('network');
		expect(await reason(vet(new URL('http://empty.example/'), { resolve }))).toBe('network');
	});

	it('lets through exactly the host:port pairs of the test setting', async () => {
		const allow = new Set(['127.0.0.1:8080', 'private.example:8443']);
		expect(await reason(vet(new URL('http://127.0.0.1:8080/'), { resolve, allow }))).toBe('allowed');
		expect(await reason(vet(new URL('https://private.example:8443/'), { resolve, allow }))).toBe('allowed');
		expect(await reason(vet(new URL('http://127.0.0.1:8081/'), { resolve, allow }))).toBe('refused');
		expect(await reason(vet(new URL('http://127.0.0.1/'), { resolve, allow }))).toBe('refused');
		expect(await reason(vet(new URL('http://private.example/'), { resolve, allow }))).toBe('refused');
	});
});

describe('guardedGet: URLs that are never fetched', () => {
	const options: GetOptions = { accept: '*/*', maxBytes: 1024, overflow: 'fail', resolve: fakeDns({}) };
	it.each([
		'ftp://example.com/',
		'file:///etc/passwd',
		'gopher://example.com/',
		'javascript:alert(1)',
		'data:text/html,hi',
		'http://user:secret@example.com/',
		'http://[fe80::1%25eth0]/',
		'not a url'
	])('%s', async (url) => {
		expect(await reason(guardedGet(url, options))).toBe('bad_url');
	});
});

describe('guardedGet against local servers', () => {
	let server: http.Server;
	let origin: string;
	let port: number;
	let allow: Set<string>;
	const hosts: string[] = [];
	let slowResponse: http.ServerResponse | undefined;

	beforeAll(async () => {
		server = http.createServer((req, res) => {
			hosts.push(req.headers.host ?? '');
			const url = new URL(req.url ?? '/', 'http://x');
			const hops = url.pathname.match(/^\/redirect\/(\d+)$/);
			if (hops) {
				const left = Number(hops[1]);
				res.writeHead(302, { location: left > 1 ? `/redirect/${left - 1}` : '/page' }).end();
			} else if (url.pathname === '/to') {
				res.writeHead(307, { location: url.searchParams.get('target') ?? '/' }).end();
			} else if (url.pathname === '/page') {
				res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<title>Hello</title>');
			} else if (url.pathname === '/big') {
				// 2 MiB, sent as fast as the socket takes it.
				res.writeHead(200, { 'content-type': 'text/html' });
				const chunk = Buffer.alloc(64 * 1024, 'a');
				let sent = 0;
				const write = () => {
					while (sent < 32) {
						sent++;
						if (!res.write(chunk)) return void res.once('drain', write);
					}
					res.end();
				};
				write();
			} else if (url.pathname === '/slow') {
				// Headers and a first piece, then nothing: the body never ends.
				res.writeHead(200, { 'content-type': 'text/html' });
				res.write('<title>Never');
				slowResponse = res;
			} else if (url.pathname === '/gzip') {
				res.writeHead(200, { 'content-type': 'text/html', 'content-encoding': 'gzip' }).end('not really gzip');
			} else if (url.pathname === '/silent') {
				// Not even headers.
			} else {
				res.writeHead(404).end();
			}
		});
		await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
		port = (server.address() as AddressInfo).port;
		origin = `http://127.0.0.1:${port}`;
		allow = new Set([`127.0.0.1:${port}`, `pinned.test:${port}`]);
	});

	afterAll(async () => {
		server.closeAllConnections();
		await new Promise((resolve) => server.close(resolve));
	});

	const get = (url: string, extra: Partial<GetOptions> = {}) =>
		guardedGet(url, { accept: 'text/html', maxBytes: PREVIEW_LIMITS.pageBytes, overflow: 'truncate', allow, ...extra });

	async function text(url: string, extra: Partial<GetOptions> = {}) {
		const response = await get(url, extra);
		const chunks: Buffer[] = [];
		for await (const chunk of response.body) chunks.push(chunk);
		return { response, body: Buffer.concat(chunks) };
	}

	it('refuses the same local server without the test setting', async () => {
		expect(await reason(get(`${origin}/page`, { allow: new Set() }))).toBe('refused');
	});

	it('connects to the vetted address with the original Host, never asking DNS again', async () => {
		// pinned.test exists only in this resolver: were node to look it up itself, it would fail.
		const resolve = fakeDns({ 'pinned.test': ['127.0.0.1'] });
		hosts.length = 0;
		const { response, body } = await text(`http://pinned.test:${port}/page`, { resolve });
		expect(body.toString()).toBe('<title>Hello</title>');
		expect(response).toMatchObject({ status: 200, mediaType: 'text/html', charset: 'utf-8' });
		expect(hosts).toEqual([`pinned.test:${port}`]);
		expect(resolve).toHaveBeenCalledTimes(1);
	});

	it('falls back among the vetted addresses only', async () => {
		// Nothing listens on [::1] here: the connection falls back to the other vetted address.
		const resolve = fakeDns({ 'pinned.test': ['::1', '127.0.0.1'] });
		const { body } = await text(`http://pinned.test:${port}/page`, { resolve });
		expect(body.toString()).toBe('<title>Hello</title>');
	});

	it('refuses an encoded answer, which it did not ask for', async () => {
		expect(await reason(get(`${origin}/gzip`))).toBe('content_type');
	});

	it('follows 5 redirects and refuses the 6th', async () => {
		const { response } = await text(`${origin}/redirect/5`);
		expect(response.url.href).toBe(`${origin}/page`);
		expect(await reason(get(`${origin}/redirect/6`))).toBe('redirects');
	});

	it('vets every redirect target: a private address is refused at the hop', async () => {
		const resolve = fakeDns({ 'inside.example': ['10.0.0.5'] });
		hosts.length = 0;
		const target = (url: string) => `${origin}/to?target=${encodeURIComponent(url)}`;
		expect(await reason(get(target(`http://inside.example:${port}/page`), { resolve }))).toBe('refused');
		expect(await reason(get(target('http://169.254.169.254/latest/meta-data/')))).toBe('refused');
		expect(await reason(get(target('http://[::1]/')))).toBe('refused');
		expect(await reason(get(target('file:///etc/passwd')))).toBe('bad_url');
		// Only the first hop reached a server.
		expect(hosts).toEqual(Array(4).fill(`127.0.0.1:${port}`));
	});

	it('stops reading at the cap: truncates a page, fails an image', async () => {
		const { body } = await text(`${origin}/big`);
		expect(body.length).toBe(PREVIEW_LIMITS.pageBytes);
		const image = await get(`${origin}/big`, { overflow: 'fail' });
		await expect(
			(async () => {
				for await (const chunk of image.body) void chunk;
			})()
		).rejects.toMatchObject({ reason: 'too_large' });
	});

	it('gives up at the deadline on a body that never ends and on a server that never answers', async () => {
		const started = performance.now();
		const slow = await get(`${origin}/slow`, { timeoutMs: 200 });
		await expect(
			(async () => {
				for await (const chunk of slow.body) void chunk;
			})()
		).rejects.toMatchObject({ reason: 'timeout' });
		expect(await reason(get(`${origin}/silent`, { timeoutMs: 200 }))).toBe('timeout');
		expect(performance.now() - started).toBeLessThan(3000);
		// The socket was closed, not left open on the server.
		if (slowResponse && !slowResponse.destroyed) await once(slowResponse, 'close');
		expect(PREVIEW_LIMITS.timeoutMs).toBe(5000);
	});
});

describe('guardedGet over TLS', () => {
	let server: https.Server;
	let port: number;
	let cert: string;
	const seen: Array<{ servername: string | false | null; host: string | undefined }> = [];

	beforeAll(async () => {
		// A throwaway certificate for secure.test, made where the test runs rather than kept.
		const dir = mkdtempSync(path.join(tmpdir(), 'duet-tls-'));
		const [keyFile, certFile] = [path.join(dir, 'key.pem'), path.join(dir, 'cert.pem')];
		execFileSync(
			'openssl',
			[
				...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1'],
				...['-subj', '/CN=secure.test', '-addext', 'subjectAltName=DNS:secure.test', '-keyout', keyFile, '-out', certFile]
			],
			{ stdio: 'ignore' }
		);
		cert = readFileSync(certFile, 'utf8');
		server = https.createServer({ key: readFileSync(keyFile), cert }, (req, res) => {
			seen.push({ servername: (req.socket as TLSSocket).servername, host: req.headers.host });
			res.writeHead(200, { 'content-type': 'text/html' }).end('<title>Secure</title>');
		});
		rmSync(dir, { recursive: true });
		await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
		port = (server.address() as AddressInfo).port;
	});

	afterAll(async () => {
		server.closeAllConnections();
		await new Promise((resolve) => server.close(resolve));
	});

	const resolve = fakeDns({ 'secure.test': ['127.0.0.1'], 'other.test': ['127.0.0.1'] });
	const options = (): GetOptions => ({
		accept: 'text/html',
		maxBytes: 1024,
		overflow: 'truncate',
		resolve,
		ca: cert,
		allow: new Set([`secure.test:${port}`, `other.test:${port}`])
	});

	it('sends the original name as SNI and Host to the pinned address, and checks the certificate against it', async () => {
		seen.length = 0;
		const response = await guardedGet(`https://secure.test:${port}/`, options());
		const chunks: Buffer[] = [];
		for await (const chunk of response.body) chunks.push(chunk);
		expect(Buffer.concat(chunks).toString()).toBe('<title>Secure</title>');
		expect(seen).toEqual([{ servername: 'secure.test', host: `secure.test:${port}` }]);
		// Same address, another name: the certificate does not match it, so nothing is read.
		await expect(guardedGet(`https://other.test:${port}/`, options())).rejects.toMatchObject({
			reason: 'network',
			cause: { code: 'ERR_TLS_CERT_ALTNAME_INVALID' }
		});
		expect(seen).toHaveLength(1);
	});
});
