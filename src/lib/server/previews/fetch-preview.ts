/**
 * A link's preview: its page fetched through the guard and read, as it streams in, by htmlparser2
 * for the OpenGraph and Twitter card tags, with `<title>` and `<meta name=description>` to fall
 * back on. Only the first MiB of an HTML page is read; what a page says beyond is not a preview.
 */
import { Parser } from 'htmlparser2';
import { guardedGet, PREVIEW_LIMITS, PreviewFetchError, previewUrl, type GuardOptions } from './guard';

export interface PreviewData {
	title: string | null;
	description: string | null;
	/** Absolute http(s) URL of the image on its own site; served to clients only through the proxy. */
	imageUrl: string | null;
	siteName: string | null;
}

/** Characters kept of each field: enough for a card, never a page's worth. */
export const FIELD_LIMITS = { title: 200, description: 500, siteName: 100, imageUrl: 2048 };

/** Where each field may come from, best first. */
const SOURCES = {
	title: ['og:title', 'twitter:title'],
	description: ['og:description', 'twitter:description', 'description'],
	imageUrl: ['og:image', 'og:image:url', 'og:image:secure_url', 'twitter:image', 'twitter:image:src'],
	siteName: ['og:site_name']
} as const;

/** Collapses whitespace, drops control characters, and cuts at `limit` code points. */
export function cleanText(value: string | undefined, limit: number): string | null {
	if (value === undefined) return null;
	// Bidi controls could make a title read as something else; the zero-width joiner stays (emoji).
	const text = value
		.replace(/[\p{Cc}\u200b\u200e\u200f\u202a-\u202e\u2066-\u2069]/gu, ' ')
		.replace(/\s+/g, ' ')
		.trim();
	if (!text) return null;
	const points = Array.from(text);
	return points.length > limit
		? points
				.slice(0, limit - 1)
				.join('')
				.trimEnd() + '…'
		: text;
}

/** Reads a page's metadata from HTML fed in pieces; `result()` once the input is done. */
export class MetadataReader {
	private readonly meta = new Map<string, string>();
	private title: string | undefined;
	private inTitle = false;
	private readonly parser: Parser;

	constructor(private readonly pageUrl: URL) {
		this.parser = new Parser(
			{
				onopentag: (name, attributes) => {
					if (name === 'title' && this.title === undefined) {
						this.inTitle = true;
						this.title = '';
					} else if (name === 'meta') {
						const key = (attributes.property || attributes.name || '').trim().toLowerCase();
						// The first of each wins: later ones are usually a page's repeated or injected ones.
						if (key && attributes.content !== undefined && !this.meta.has(key)) {
							this.meta.set(key, attributes.content.slice(0, FIELD_LIMITS.imageUrl * 2));
						}
					}
				},
				ontext: (text) => {
					if (this.inTitle && this.title !== undefined && this.title.length < FIELD_LIMITS.title * 4) this.title += text;
				},
				onclosetag: (name) => {
					if (name === 'title') this.inTitle = false;
				}
			},
			{ decodeEntities: true, lowerCaseTags: true, lowerCaseAttributeNames: true }
		);
	}

	write(html: string): void {
		this.parser.write(html);
	}

	result(): PreviewData {
		this.parser.end();
		const first = (keys: readonly string[]) => keys.map((key) => this.meta.get(key)).find((value) => value?.trim());
		return {
			title: cleanText(first(SOURCES.title) ?? this.title, FIELD_LIMITS.title),
			description: cleanText(first(SOURCES.description), FIELD_LIMITS.description),
			imageUrl: this.image(first(SOURCES.imageUrl)),
			siteName: cleanText(first(SOURCES.siteName), FIELD_LIMITS.siteName)
		};
	}

	/** Relative to the page; only http(s), and only a length a URL can sensibly have. */
	private image(value: string | undefined): string | null {
		if (!value) return null;
		try {
			const url = previewUrl(value.trim(), this.pageUrl);
			return url.href.length <= FIELD_LIMITS.imageUrl ? url.href : null;
		} catch {
			return null;
		}
	}
}

/** The metadata of an HTML document held whole (for tests and callers that have it already). */
export function parsePreview(html: string, pageUrl: URL | string): PreviewData {
	const reader = new MetadataReader(new URL(pageUrl));
	reader.write(html);
	return reader.result();
}

/** How much of a page a browser prescans for `<meta charset>` (HTML's encoding sniffing). */
const PRESCAN_BYTES = 1024;

/**
 * The page's encoding: a byte order mark, else the header's charset, else a `<meta charset>` or
 * `<meta http-equiv=content-type content="…; charset=…">` in the first KiB, as browsers decide.
 */
export function pageCharset(head: Uint8Array, headerCharset: string | undefined): string | undefined {
	if (head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) return 'utf-8';
	if (head[0] === 0xfe && head[1] === 0xff) return 'utf-16be';
	if (head[0] === 0xff && head[1] === 0xfe) return 'utf-16le';
	if (headerCharset) return headerCharset;
	const prescan = Buffer.from(head.subarray(0, PRESCAN_BYTES)).toString('latin1');
	return /<meta\b[^>]*?charset\s*=\s*["']?\s*([\w.:-]+)/i.exec(prescan)?.[1];
}

function decoderFor(charset: string | undefined): TextDecoder {
	try {
		return new TextDecoder(charset ?? 'utf-8');
	} catch {
		// An unknown label: UTF-8 is what most pages are, and a wrong guess only garbles text.
		return new TextDecoder('utf-8');
	}
}

export interface FetchedPreview extends PreviewData {
	/** The page the metadata came from, after redirects. */
	pageUrl: string;
}

/** Fetches `url` through the guard and reads its preview; fails with a PreviewFetchError. */
export async function fetchPreview(url: string, options: GuardOptions = {}): Promise<FetchedPreview> {
	const response = await guardedGet(url, {
		...options,
		accept: 'text/html,application/xhtml+xml;q=0.9,*/*;q=0.1',
		maxBytes: PREVIEW_LIMITS.pageBytes,
		overflow: 'truncate'
	});
	try {
		if (response.status < 200 || response.status > 299) {
			throw new PreviewFetchError('status', `The page answered ${response.status}.`);
		}
		if (response.mediaType !== 'text/html') {
			throw new PreviewFetchError('content_type', `Not an HTML page (${response.mediaType || 'no content type'}).`);
		}
		const reader = new MetadataReader(response.url);
		// The first KiB is held until the encoding is known; everything after streams through.
		let decoder: TextDecoder | undefined;
		const head: Buffer[] = [];
		let headBytes = 0;
		const start = () => {
			const bytes = Buffer.concat(head);
			decoder = decoderFor(pageCharset(bytes, response.charset));
			reader.write(decoder.decode(bytes, { stream: true }));
		};
		for await (const chunk of response.body) {
			if (decoder) {
				reader.write(decoder.decode(chunk, { stream: true }));
			} else {
				head.push(chunk);
				headBytes += chunk.length;
				if (headBytes >= PRESCAN_BYTES) start();
			}
		}
		if (!decoder) start();
		reader.write(decoder!.decode());
		return { ...reader.result(), pageUrl: response.url.href };
	} finally {
		response.close();
	}
}
