/**
 * Link previews against the production server: the page and its image come from a local HTTP
 * server that the SSRF guard lets through only because PREVIEW_ALLOW_PRIVATE_HOSTS names it; a
 * server started without that setting refuses the very same URLs.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ApiClient, describeEngines, signedInClient, startServer, type TestServer } from './harness';

// A 1×1 PNG.
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=', 'base64');

let site: http.Server;
let siteOrigin: string;
const hits = new Map<string, number>();

beforeAll(async () => {
	site = http.createServer((req, res) => {
		const path = req.url ?? '/';
		hits.set(path, (hits.get(path) ?? 0) + 1);
		if (path === '/article') {
			res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
			res.end(`<html><head><title>Fallback</title>
				<meta property="og:title" content="Lighthouse &amp; keeper">
				<meta property="og:description" content="A story.">
				<meta property="og:site_name" content="Local news">
				<meta property="og:image" content="/cover.png"></head><body>…</body></html>`);
		} else if (path === '/cover.png') {
			res.writeHead(200, { 'content-type': 'image/png', 'content-length': PNG.length }).end(PNG);
		} else if (path === '/svg-page') {
			res.writeHead(200, { 'content-type': 'text/html' }).end('<title>Vector</title><meta property="og:image" content="/x.svg">');
		} else if (path === '/x.svg') {
			res
				.writeHead(200, { 'content-type': 'image/svg+xml' })
				.end('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>');
		} else if (path === '/to-metadata') {
			res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' }).end();
		} else {
			res.writeHead(404, { 'content-type': 'text/html' }).end('<title>Not found</title>');
		}
	});
	await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
	siteOrigin = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
});

afterAll(async () => {
	site.closeAllConnections();
	await new Promise((resolve) => site.close(resolve));
});

const previewPath = (url: string) => `/api/previews?url=${encodeURIComponent(url)}`;

describeEngines('link previews', (engine) => {
	let server: TestServer;
	beforeAll(async () => {
		server = await startServer({ engine, env: { PREVIEW_ALLOW_PRIVATE_HOSTS: new URL(siteOrigin).host } });
	});
	afterAll(async () => {
		await server?.stop();
	});

	test('a signed-in user gets the preview, fetched once, with the image through the proxy', async () => {
		const { client } = await signedInClient(server.origin);
		const url = `${siteOrigin}/article`;
		const before = hits.get('/article') ?? 0;
		const res = await client.get(previewPath(url));
		expect(res.status).toBe(200);
		expect(res.body.preview).toEqual({
			url,
			title: 'Lighthouse & keeper',
			description: 'A story.',
			siteName: 'Local news',
			imageUrl: `/api/previews/image?url=${encodeURIComponent(url)}`
		});
		// Cached: the same answer without another fetch, for anyone.
		const other = await signedInClient(server.origin);
		expect((await other.client.get(previewPath(url + '#again'))).body.preview).toEqual(res.body.preview);
		expect(hits.get('/article')).toBe(before + 1);

		const image = await fetch(server.origin + res.body.preview.imageUrl, { headers: { cookie: client.cookie! } });
		expect(image.status).toBe(200);
		expect(image.headers.get('content-type')).toBe('image/png');
		expect(image.headers.get('x-content-type-options')).toBe('nosniff');
		expect(image.headers.get('cache-control')).toMatch(/max-age=\d+/);
		expect(Buffer.from(await image.arrayBuffer())).toEqual(PNG);
	});

	test('signed out: 401 from both endpoints', async () => {
		const anonymous = new ApiClient(server.origin);
		expect((await anonymous.get(previewPath(`${siteOrigin}/article`))).status).toBe(401);
		expect((await anonymous.get(`/api/previews/image?url=${encodeURIComponent(`${siteOrigin}/article`)}`)).status).toBe(401);
	});

	test('bad links are 400; links without a preview give null; images only of stored previews', async () => {
		const { client } = await signedInClient(server.origin);
		for (const url of ['', 'javascript:alert(1)', 'file:///etc/passwd', 'not a url']) {
			const res = await client.get(previewPath(url));
			expect(res.status, url).toBe(400);
			expect(res.body.error.code).toBe('bad_request');
		}
		expect((await client.get(previewPath(`${siteOrigin}/missing`))).body).toEqual({ preview: null });
		// A redirect to the metadata address is refused at the hop, even from an allowed host.
		expect((await client.get(previewPath(`${siteOrigin}/to-metadata`))).body).toEqual({ preview: null });
		// The proxy serves the image of a stored preview only, never an arbitrary URL.
		const direct = await client.get(`/api/previews/image?url=${encodeURIComponent(`${siteOrigin}/cover.png`)}`);
		expect(direct.status).toBe(404);
		// SVG can carry script: not passed on.
		const svg = await client.get(previewPath(`${siteOrigin}/svg-page`));
		expect(svg.body.preview.imageUrl).not.toBeNull();
		const svgImage = await client.get(svg.body.preview.imageUrl);
		expect(svgImage.status).toBe(404);
		expect(hits.get('/x.svg')).toBeGreaterThan(0);
	});
});

describe('link previews without the test setting [pglite]', () => {
	let server: TestServer;
	beforeAll(async () => {
		server = await startServer({ engine: 'pglite' });
	});
	afterAll(async () => {
		await server?.stop();
	});

	test('the same local server is refused, and never reached', async () => {
		const { client } = await signedInClient(server.origin);
		const url = `${siteOrigin}/article?unlisted`;
		const res = await client.get(previewPath(url));
		expect(res.status).toBe(200);
		expect(res.body).toEqual({ preview: null });
		expect(hits.get('/article?unlisted')).toBeUndefined();
		expect((await client.get(`/api/previews/image?url=${encodeURIComponent(url)}`)).status).toBe(404);
	});
});
