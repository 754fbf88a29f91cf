/**
 * Baseline (c) for uploads: a bare node:http server doing the least Duet's upload does, so the
 * ratio Duet ÷ this prices Duet's own overhead (auth, multipart parsing, type sniffing, quota,
 * the attachment row) and not the database's or the kernel's.
 *
 * - `POST /upload`: the raw request body (multipart framing and all, a few hundred bytes more than
 *   the file) cut into 256 KiB chunks and inserted four per statement into `blob_chunks`, awaiting
 *   each statement before reading on, as Duet's database store does; answers 201 {size}.
 * - `POST /photo`: the file part of the multipart body, gathered in memory, then sharp's three
 *   passes over it as Duet makes them (dimensions; re-encoded without metadata; an 800 px WebP
 *   thumbnail), two images at a time, the output dropped: the bare price of the image work.
 *
 * DATABASE_URL names a PostgreSQL database (a pool of DATABASE_POOL_SIZE connections, 16 by default,
 * as the bench gives Duet), else PGLITE_DIR a PGlite directory, opened as the app opens it
 * (durable unless PGLITE_UNSAFE_NO_FSYNC=1). Its schema comes from the app's migrations.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import sharp from 'sharp';

const CHUNK_BYTES = 256 * 1024;
const WRITE_BATCH = 4;
const CONCURRENT_IMAGES = 2;

async function connect() {
	if (process.env.DATABASE_URL) {
		const { default: postgres } = await import('postgres');
		const sql = postgres(process.env.DATABASE_URL, { max: Number(process.env.DATABASE_POOL_SIZE ?? 16), onnotice: () => {} });
		return { query: (text, params) => sql.unsafe(text, params, { prepare: true }) };
	}
	const { openPgliteDir } = await import('../../src/lib/server/db/pglite-durable.js');
	const db = await openPgliteDir(process.env.PGLITE_DIR, { unsafeNoFsync: process.env.PGLITE_UNSAFE_NO_FSYNC === '1' });
	return { query: (text, params) => db.query(text, params) };
}

const db = await connect();

async function insert(key, rows) {
	const values = rows.map((_, i) => `($${3 * i + 1}, $${3 * i + 2}, $${3 * i + 3})`).join(', ');
	await db.query(
		`insert into blob_chunks (key, "index", data) values ${values}`,
		rows.flatMap((row) => [key, row.index, row.data])
	);
}

async function store(req) {
	const key = `${randomUUID()}:file`;
	let chunk = Buffer.allocUnsafe(CHUNK_BYTES);
	let filled = 0;
	let index = 0;
	let size = 0;
	let full = [];
	const seal = async (last) => {
		if (filled > 0) full.push({ index: index++, data: Buffer.from(chunk.subarray(0, filled)) });
		filled = 0;
		if (full.length && (last || full.length === WRITE_BATCH)) {
			const rows = full;
			full = [];
			await insert(key, rows);
		}
	};
	for await (const piece of req) {
		let offset = 0;
		while (offset < piece.byteLength) {
			const n = Math.min(CHUNK_BYTES - filled, piece.byteLength - offset);
			piece.copy(chunk, filled, offset, offset + n);
			filled += n;
			offset += n;
			if (filled === CHUNK_BYTES) await seal(false);
		}
		size += piece.byteLength;
	}
	await seal(true);
	chunk = null;
	return size;
}

sharp.cache(false);
let running = 0;
const waiting = [];
async function slot(fn) {
	if (running >= CONCURRENT_IMAGES) await new Promise((resolve) => waiting.push(resolve));
	running++;
	try {
		return await fn();
	} finally {
		running--;
		waiting.shift()?.();
	}
}

/** The bytes of the one file part: between its headers and the closing boundary. */
async function filePart(req) {
	const parts = [];
	for await (const piece of req) parts.push(piece);
	const body = Buffer.concat(parts);
	const boundary = /boundary=(.+)$/.exec(req.headers['content-type'] ?? '')?.[1];
	const fileHeader = body.indexOf('filename=');
	const start = body.indexOf('\r\n\r\n', fileHeader) + 4;
	const end = body.lastIndexOf(`\r\n--${boundary}`);
	return body.subarray(start, end);
}

async function photo(req) {
	const bytes = await filePart(req);
	return slot(async () => {
		const metadata = await sharp(bytes, { failOn: 'error' }).metadata();
		await sharp(bytes, { failOn: 'error' }).autoOrient().jpeg({ quality: 90 }).toBuffer();
		await sharp(bytes, { failOn: 'error' })
			.autoOrient()
			.resize(800, 800, { fit: 'inside', withoutEnlargement: true })
			.webp({ quality: 80 })
			.toBuffer();
		return { width: metadata.width, height: metadata.height };
	});
}

const server = http.createServer(async (req, res) => {
	try {
		if (req.url === '/readyz') {
			await db.query('select 1');
			res.writeHead(200).end('ok');
		} else if (req.method === 'POST' && req.url === '/upload') {
			const size = await store(req);
			res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ size }));
		} else if (req.method === 'POST' && req.url === '/photo') {
			const image = await photo(req);
			res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify(image));
		} else {
			res.writeHead(404).end();
		}
	} catch (error) {
		console.error(error);
		res.writeHead(500).end(String(error));
	}
});
server.listen(Number(process.env.PORT), process.env.HOST ?? '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
