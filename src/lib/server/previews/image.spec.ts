import { describe, expect, it } from 'vitest';
import { localSite } from './test-site';
import { proxyImage } from './image';

describe('proxyImage', () => {
	const site = localSite((req, res) => {
		if (req.url === '/small.png')
			res.writeHead(200, { 'content-type': 'image/png', 'content-length': 4 }).end(Buffer.from('\x89PNG', 'latin1'));
		else if (req.url === '/declared-big.png')
			res.writeHead(200, { 'content-type': 'image/png', 'content-length': 2000 }).end(Buffer.alloc(2000));
		// No length given: the cap has to hold while streaming.
		else if (req.url === '/chunked-big.jpg') res.writeHead(200, { 'content-type': 'image/jpeg' }).end(Buffer.alloc(5000));
		else if (req.url === '/vector.svg') res.writeHead(200, { 'content-type': 'image/svg+xml' }).end('<svg/>');
		else if (req.url === '/page') res.writeHead(200, { 'content-type': 'text/html' }).end('<title>x</title>');
		else res.writeHead(404, { 'content-type': 'image/png' }).end();
	});

	it('streams a raster image with headers that keep it an image', async () => {
		const response = await proxyImage(`${site.origin}/small.png`, { allow: site.allow }, 1000);
		expect(response.status).toBe(200);
		expect(Object.fromEntries(response.headers)).toMatchObject({
			'content-type': 'image/png',
			'content-length': '4',
			'x-content-type-options': 'nosniff',
			'content-security-policy': "default-src 'none'; sandbox",
			'cache-control': 'private, max-age=86400'
		});
		expect(Buffer.from(await response.arrayBuffer()).toString('latin1')).toBe('\x89PNG');
	});

	it('refuses what is larger than the cap, said or streamed', async () => {
		await expect(proxyImage(`${site.origin}/declared-big.png`, { allow: site.allow }, 1000)).rejects.toMatchObject({
			reason: 'too_large'
		});
		const streamed = await proxyImage(`${site.origin}/chunked-big.jpg`, { allow: site.allow }, 1000);
		await expect(streamed.arrayBuffer()).rejects.toMatchObject({ reason: 'too_large' });
	});

	it.each([
		['/vector.svg', 'content_type'],
		['/page', 'content_type'],
		['/missing.png', 'status']
	])('refuses %s (%s)', async (path, reason) => {
		await expect(proxyImage(`${site.origin}${path}`, { allow: site.allow }, 1000)).rejects.toMatchObject({ reason });
	});

	it('goes through the guard', async () => {
		await expect(proxyImage(`${site.origin}/small.png`, {}, 1000)).rejects.toMatchObject({ reason: 'refused' });
	});
});
