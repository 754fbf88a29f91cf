/**
 * The download's headers, pure so they are tested on their own: which types a browser may show
 * in the page, the file name in a form every browser reads and none can be tricked by, and the one
 * `Range` form worth serving.
 */

/** Raster images the server re-encoded itself (images.ts): the only types shown inline. */
export const INLINE_TYPES: ReadonlySet<string> = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp']);

/**
 * `inline` for the four raster types; anything else (SVG and HTML included, which would run
 * script as our origin if shown) is `attachment`, with the name both as a plain-ASCII fallback and
 * percent-encoded UTF-8 (RFC 6266/8187), so no name can break out of the header.
 */
export function contentDisposition(type: string, name: string): string {
	if (INLINE_TYPES.has(type)) return 'inline';
	const fallback = name.replace(/[^A-Za-z0-9 ._-]/g, '_') || 'file';
	return `attachment; filename="${fallback}"; filename*=UTF-8''${encodeRfc8187(name)}`;
}

function encodeRfc8187(value: string): string {
	// encodeURIComponent leaves these five unescaped; RFC 8187's attr-char excludes them.
	return encodeURIComponent(value).replace(/['()*!]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export interface ByteRange {
	start: number;
	/** Inclusive. */
	end: number;
}

/**
 * A `Range` header against a file of `size` bytes: one range (`a-b`, `a-`, `-n`) → its bytes;
 * past the end → 'unsatisfiable' (416); absent, malformed, another unit or several ranges → null,
 * the whole file (RFC 9110 lets a server ignore any Range, and a multipart reply buys nothing here).
 */
export function parseRange(header: string | undefined, size: number): ByteRange | 'unsatisfiable' | null {
	if (!header) return null;
	const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
	if (!match || (match[1] === '' && match[2] === '')) return null;
	const [, from, to] = match;
	if (from === '') {
		const suffix = Number(to);
		if (suffix === 0) return 'unsatisfiable';
		return { start: Math.max(0, size - suffix), end: size - 1 };
	}
	const start = Number(from);
	const end = to === '' ? Number.MAX_SAFE_INTEGER : Number(to);
	if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start) return null;
	if (start >= size) return 'unsatisfiable';
	return { start, end: Math.min(end, size - 1) };
}

/**
 * The name as given, made safe to store and show: no path (some browsers send one), no control
 * characters or lone surrogates, at most 255 characters; nothing left → "file".
 */
export function cleanName(raw: string | undefined): string {
	const base = (raw ?? '').split(/[\\/]/).pop() ?? '';
	const cleaned = base
		.toWellFormed()
		// eslint-disable-next-line no-control-regex
		.replace(/[\u0000-\u001f\u007f-\u009f]/g, '')
		.trim();
	return [...cleaned].slice(0, 255).join('') || 'file';
}
