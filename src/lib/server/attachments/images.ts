/**
 * What the server makes of an uploaded raster image, with sharp (libvips): its dimensions as it is
 * shown (EXIF orientation applied), the file re-encoded in its own format with every piece of
 * metadata left out (EXIF with GPS, XMP, IPTC, comments: sharp writes none unless asked), which is
 * what the peer downloads, and a WebP thumbnail. Re-encoding rather than editing metadata out also
 * means what is served inline is an image libvips produced, never bytes a client chose. Input comes
 * from the BlobStore as a stream; images are processed a few at a time, so twenty uploads at once
 * do not decode twenty images at once.
 */
import type { Metadata, Sharp, SharpOptions } from 'sharp';
import { isUnavailable } from '../failures';

/** The longer side of a thumbnail. */
export const THUMBNAIL_PX = 800;

/**
 * Larger images are not decoded (libvips would need width × height × 4 bytes and more): 50
 * megapixels is a large camera's photo. Such a file is kept as a plain download.
 */
const MAX_PIXELS = 50_000_000;

/** Images decoded at once by this process. */
const CONCURRENT = 2;

/**
 * libvips is loaded with the first image, not with the server: it starts its own threads and
 * memory pools, which a process that never handles an image should not carry.
 */
let library: Promise<typeof import('sharp').default> | null = null;
function loadSharp() {
	library ??= import('sharp').then(({ default: sharp }) => {
		// libvips' operation cache keeps decoded images around for a repeat of the same operation on
		// the same input, which never comes here (each upload is read once per output): it would only hold memory.
		sharp.cache(false);
		return sharp;
	});
	return library;
}

export const IMAGE_TYPES: ReadonlySet<string> = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp']);

export interface ProcessedImage {
	width: number;
	height: number;
}

type Source = () => AsyncIterable<Uint8Array>;
type Sink = (source: AsyncIterable<Uint8Array>) => Promise<number>;

let running = 0;
const waiting: (() => void)[] = [];

async function slot<T>(fn: () => Promise<T>): Promise<T> {
	if (running >= CONCURRENT) await new Promise<void>((resolve) => waiting.push(resolve));
	running++;
	try {
		return await fn();
	} finally {
		running--;
		waiting.shift()?.();
	}
}

const options = (type: string): SharpOptions => ({
	// Every frame of an animation is kept in the file; the thumbnail is its first frame.
	animated: type === 'image/gif' || type === 'image/webp',
	limitInputPixels: MAX_PIXELS,
	failOn: 'error'
});

/**
 * The stored upload, read back once: libvips needs all of an image to decode it anyway, and three
 * passes over the database (dimensions, file, thumbnail) cost more than the whole image ever
 * processed. At most CONCURRENT images are held at a time, each under MAX_ATTACHMENT_BYTES.
 */
async function readAll(source: Source): Promise<Buffer> {
	const pieces: Uint8Array[] = [];
	for await (const piece of source()) pieces.push(piece);
	return Buffer.concat(pieces);
}

function encoded(image: Sharp, type: string): Sharp {
	switch (type) {
		case 'image/jpeg':
			return image.jpeg({ quality: 90 });
		case 'image/png':
			return image.png();
		case 'image/gif':
			return image.gif();
		default:
			return image.webp({ quality: 90 });
	}
}

/**
 * Reads `source` (a file of `type`, one of IMAGE_TYPES) once, then decodes it for its dimensions,
 * into `writeFile` without metadata and into `writeThumbnail`. Null when libvips cannot decode it (a
 * corrupt or hostile file, or one past MAX_PIXELS): the caller keeps it as a plain download.
 */
export function processImage(type: string, source: Source, writeFile: Sink, writeThumbnail: Sink): Promise<ProcessedImage | null> {
	return slot(async () => {
		const sharp = await loadSharp();
		// A failure here is the store's (the database away): the upload fails as a whole.
		const input = await readAll(source);
		let metadata: Metadata;
		try {
			metadata = await sharp(input, options(type)).metadata();
		} catch {
			return null;
		}
		if (!metadata.width || !metadata.height || metadata.width * (metadata.pageHeight ?? metadata.height) > MAX_PIXELS) return null;
		const shown = metadata.autoOrient ?? { width: metadata.width, height: metadata.height };
		try {
			await writeFile(encoded(sharp(input, options(type)).autoOrient(), type));
			await writeThumbnail(
				sharp(input, { ...options(type), animated: false })
					.autoOrient()
					.resize(THUMBNAIL_PX, THUMBNAIL_PX, { fit: 'inside', withoutEnlargement: true })
					.webp({ quality: 80 })
			);
		} catch (error) {
			// The database is away: the upload fails as a whole (503). Anything else is libvips unable
			// to decode pixels whose header it read (a truncated or corrupt file): a plain download.
			if (isUnavailable(error)) throw error;
			return null;
		}
		return { width: shown.width, height: shown.height };
	});
}
