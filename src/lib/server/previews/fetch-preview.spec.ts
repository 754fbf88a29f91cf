import { once } from 'node:events';
import http from 'node:http';
import { describe, expect, it } from 'vitest';
import { localSite } from './test-site';
import { cleanText, fetchPreview, FIELD_LIMITS, MetadataReader, parsePreview } from './fetch-preview';

const PAGE = 'https://news.example/articles/1';

describe('parsePreview', () => {
	it('reads OpenGraph tags, resolving the image against the page', () => {
		const html = `<!doctype html><html><head>
			<title>Fallback title</title>
			<meta property="og:title" content="The OG title">
			<meta property="og:description" content="What it is about.">
			<meta property="og:image" content="/img/cover.png">
			<meta property="og:site_name" content="News">
			<meta name="description" content="Plain description">
		</head><body></body></html>`;
		expect(parsePreview(html, PAGE)).toEqual({
			title: 'The OG title',
			description: 'What it is about.',
			imageUrl: 'https://news.example/img/cover.png',
			siteName: 'News'
		});
	});

	it('falls back to Twitter cards, then to <title> and <meta name=description>', () => {
		const twitter = `<meta name="twitter:title" content="Tweet title"><meta name="twitter:description" content="Tweet text">
			<meta name="twitter:image" content="https://cdn.example/t.jpg"><title>Page</title>`;
		expect(parsePreview(twitter, PAGE)).toEqual({
			title: 'Tweet title',
			description: 'Tweet text',
			imageUrl: 'https://cdn.example/t.jpg',
			siteName: null
		});
		const plain = `<TITLE>  Plain\n\t page  </TITLE><META NAME="Description" CONTENT="About it">`;
		expect(parsePreview(plain, PAGE)).toEqual({ title: 'Plain page', description: 'About it', imageUrl: null, siteName: null });
		// An empty OG title is no title: the next source counts.
		expect(parsePreview('<meta property="og:title" content="  "><title>Real</title>', PAGE).title).toBe('Real');
	});

	it('takes the first of repeated tags', () => {
		const html = '<meta property="og:title" content="First"><meta property="og:title" content="Second">';
		expect(parsePreview(html, PAGE).title).toBe('First');
	});

	it('decodes entities in text and attributes', () => {
		const html = `<title>Caf&eacute; &amp; bar &#x27;24</title><meta property="og:description" content="&lt;b&gt;not bold&lt;/b&gt; &quot;q&quot; &#128512;">`;
		expect(parsePreview(html, PAGE)).toMatchObject({ title: "Café & bar '24", description: '<b>not bold</b> "q" 😀' });
	});

	it('sees no tags inside scripts, styles or comments', () => {
		const html = `<script>document.write('<meta property="og:title" content="from script">'); var t = "<title>x</title>";</script>
			<style>/* <meta property="og:image" content="/evil.png"> */</style>
			<!-- <meta property="og:description" content="commented"> -->
			<title>Real</title>`;
		expect(parsePreview(html, PAGE)).toEqual({ title: 'Real', description: null, imageUrl: null, siteName: null });
	});

	it('caps huge attributes and titles, and drops control characters', () => {
		const huge = 'x'.repeat(500_000);
		const html = `<meta property="og:title" content="${huge}"><meta property="og:description" content="a\u0000b\u202ec ${huge}">
			<meta property="og:image" content="https://cdn.example/${huge}">`;
		const preview = parsePreview(html, PAGE);
		expect(Array.from(preview.title ?? '')).toHaveLength(FIELD_LIMITS.title);
		expect(preview.title?.endsWith('…')).toBe(true);
		expect(preview.description?.startsWith('a b c x')).toBe(true);
		expect(Array.from(preview.description ?? '')).toHaveLength(FIELD_LIMITS.description);
		// A URL that long is not kept at all: cut, it would name another resource.
		expect(preview.imageUrl).toBeNull();
		expect(parsePreview(`<title>${huge}</title>`, PAGE).title).toHaveLength(FIELD_LIMITS.title);
	});

	it('keeps only http(s) images', () => {
		for (const src of [
			'javascript:alert(1)',
			'data:image/png;base64,AAAA',
			'file:///etc/passwd',
			'ftp://x.example/a.png',
			'http://[',
			''
		]) {
			expect(parsePreview(`<meta property="og:image" content="${src}">`, PAGE).imageUrl, src).toBeNull();
		}
		expect(parsePreview('<meta property="og:image" content="//cdn.example/a.png#frag">', 'http://a.example/').imageUrl).toBe(
			'http://cdn.example/a.png'
		);
	});

	it('survives broken markup', () => {
		expect(parsePreview('<title>Unclosed <meta property="og:title"', PAGE).title).toBe('Unclosed <meta property="og:title"');
		expect(parsePreview('<<<>>><meta content="no key"><meta property="og:title">', PAGE)).toEqual({
			title: null,
			description: null,
			imageUrl: null,
			siteName: null
		});
		expect(parsePreview('', PAGE).title).toBeNull();
	});

	it('reads a page fed in arbitrary pieces as it would whole', () => {
		const html = '<head><title>Split &amp; joined</title><meta property="og:image" content="/i.png"></head>';
		const reader = new MetadataReader(new URL(PAGE));
		for (const piece of html.match(/.{1,3}/gs) ?? []) reader.write(piece);
		expect(reader.result()).toEqual(parsePreview(html, PAGE));
	});

	it('cleanText', () => {
		expect(cleanText(undefined, 10)).toBeNull();
		expect(cleanText(' \n ', 10)).toBeNull();
		expect(cleanText('😀'.repeat(20), 5)).toBe('😀😀😀😀…');
	});
});

describe('fetchPreview', () => {
	let endless: http.ServerResponse | undefined;

	const site = localSite((req, res) => {
		if (req.url === '/moved') res.writeHead(301, { location: '/article/' }).end();
		else if (req.url === '/article/')
			res
				.writeHead(200, { 'content-type': 'text/html; charset=iso-8859-1' })
				.end(Buffer.from('<title>Caf\xe9</title><meta property="og:image" content="cover.jpg">', 'latin1'));
		else if (req.url === '/meta-charset')
			res
				.writeHead(200, { 'content-type': 'text/html' })
				.end(
					Buffer.concat([
						Buffer.from('<meta charset="windows-1252"><title>'),
						Buffer.from([0x80, 0x20, 0x35]),
						Buffer.from('</title>' + ' '.repeat(3000))
					])
				);
		else if (req.url === '/http-equiv')
			res
				.writeHead(200, { 'content-type': 'text/html' })
				.end(Buffer.from('<META HTTP-EQUIV="Content-Type" CONTENT="text/html; charset=ISO-8859-1"><title>na\xefve</title>', 'latin1'));
		else if (req.url === '/bom')
			res
				.writeHead(200, { 'content-type': 'text/html; charset=iso-8859-1' })
				.end(Buffer.from('\ufeff<title>\u00e9t\u00e9</title>', 'utf8'));
		else if (req.url === '/endless-json') {
			res.writeHead(200, { 'content-type': 'application/json' }).write('{"never": "ends');
			endless = res;
		} else if (req.url === '/json') res.writeHead(200, { 'content-type': 'application/json' }).end('{"title":"no"}');
		else if (req.url === '/image') res.writeHead(200, { 'content-type': 'image/png' }).end(Buffer.alloc(10));
		else if (req.url === '/untyped') res.writeHead(200).end('<title>No type</title>');
		else res.writeHead(404, { 'content-type': 'text/html' }).end('<title>Not found</title>');
	});

	it('follows redirects, decodes the charset, and resolves the image against the final page', async () => {
		await expect(fetchPreview(`${site.origin}/moved`, { allow: site.allow })).resolves.toEqual({
			pageUrl: `${site.origin}/article/`,
			title: 'Café',
			description: null,
			imageUrl: `${site.origin}/article/cover.jpg`,
			siteName: null
		});
	});

	it.each([
		['/meta-charset', '€ 5'],
		['/http-equiv', 'naïve'],
		['/bom', 'été']
	])('decodes %s by the encoding the page declares', async (path, title) => {
		expect((await fetchPreview(`${site.origin}${path}`, { allow: site.allow })).title).toBe(title);
	});

	it('drops the connection of a refused answer still sending, with no error left unhandled', async () => {
		await expect(fetchPreview(`${site.origin}/endless-json`, { allow: site.allow })).rejects.toMatchObject({ reason: 'content_type' });
		if (endless && !endless.destroyed) await once(endless, 'close');
	});

	it.each([
		['/json', 'content_type'],
		['/image', 'content_type'],
		['/untyped', 'content_type'],
		['/missing', 'status']
	])('parses only successful text/html: %s is %s', async (path, reason) => {
		await expect(fetchPreview(`${site.origin}${path}`, { allow: site.allow })).rejects.toMatchObject({ reason });
	});
});
