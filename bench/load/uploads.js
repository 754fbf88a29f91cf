/**
 * Upload client child: makes the payloads once (random bytes, and a 12-megapixel JPEG with EXIF)
 * and POSTs them as multipart/form-data, one or many at once, to Duet's `POST /api/attachments`
 * or to the bare baseline (bench/baselines/upload-sink.js), so both get the very same bytes over
 * the same kind of socket. The body is framed by hand and written from memory: the client should
 * cost as little CPU as it can, since it shares the machine with the server it measures.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import sharp from 'sharp';
import { now, serve } from '../lib/util.js';

const MiB = 1024 * 1024;
const payloads = new Map();

/**
 * A camera-like JPEG of `width` × `height` with the EXIF a phone writes (camera, time,
 * orientation): noise enlarged 4× is a hard case for the encoder without being a pathological one.
 */
async function photo({ width, height }) {
	const [w, h] = [Math.ceil(width / 4), Math.ceil(height / 4)];
	return sharp(randomBytes(w * h * 3), { raw: { width: w, height: h, channels: 3 } })
		.resize(width, height, { kernel: 'nearest' })
		.jpeg({ quality: 92 })
		.withExif({ IFD0: { Make: 'Duet bench', Model: 'Synthetic 12 MP', DateTime: '2026:12:01 12:00:00', Orientation: '1' } })
		.toBuffer();
}

function multipart(conversationId, bytes, filename, contentType) {
	const boundary = `----duet-bench-${randomBytes(8).toString('hex')}`;
	const head = Buffer.from(
		`--${boundary}\r\ncontent-disposition: form-data; name="conversationId"\r\n\r\n${conversationId}\r\n` +
			`--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="${filename}"\r\ncontent-type: ${contentType}\r\n\r\n`
	);
	const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
	return { boundary, head, tail, length: head.length + bytes.length + tail.length };
}

/** One upload; resolves when the whole answer is in, with its status and time. */
function post({ origin, path, cookie, conversationId }, bytes, filename, contentType) {
	const body = multipart(conversationId, bytes, filename, contentType);
	return new Promise((resolve, reject) => {
		const t0 = now();
		const req = http.request(
			origin + path,
			{
				method: 'POST',
				agent: false,
				headers: {
					origin,
					...(cookie ? { cookie } : {}),
					'content-type': `multipart/form-data; boundary=${body.boundary}`,
					'content-length': String(body.length)
				}
			},
			(res) => {
				let text = '';
				res.setEncoding('utf8');
				res.on('data', (chunk) => (text += chunk));
				res.on('end', () => resolve({ status: res.statusCode, ms: now() - t0, text }));
			}
		);
		req.on('error', reject);
		req.write(body.head);
		req.write(bytes);
		req.end(body.tail);
	});
}

serve({
	/** `sizes`: byte counts of the random files to make; `photo`: its dimensions. Returns the photo's size. */
	async prepare({ sizes, photo: dimensions }) {
		for (const size of sizes) if (!payloads.has(size)) payloads.set(size, randomBytes(size));
		payloads.set('photo', await photo(dimensions));
		return { photoBytes: payloads.get('photo').length };
	},

	/**
	 * Uploads the files of `sizes` (or `count` photos) all at once to `target`; resolves with the
	 * wall time from the first request to the last answer, every status and each upload's time.
	 */
	async upload({ target, sizes, photos = 0 }) {
		const jobs = photos
			? Array.from({ length: photos }, (_, i) => [payloads.get('photo'), `photo${i}.jpg`, 'image/jpeg'])
			: sizes.map((size, i) => [payloads.get(size), `file${i}.bin`, 'application/octet-stream']);
		const t0 = now();
		const results = await Promise.all(jobs.map(([bytes, name, type]) => post(target, bytes, name, type)));
		const ms = now() - t0;
		const failed = results.filter((r) => r.status !== 201);
		if (failed.length) throw new Error(`${failed.length} uploads failed, first: ${failed[0].status} ${failed[0].text.slice(0, 300)}`);
		const bytes = jobs.reduce((a, [b]) => a + b.length, 0);
		return { ms, bytes, uploads: jobs.length, mibPerSecond: bytes / MiB / (ms / 1000), each: results.map((r) => r.ms) };
	}
});
