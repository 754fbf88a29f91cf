/**
 * The BlobStore in the app's own database: each blob as rows of at most CHUNK_BYTES, so no shared
 * disk is needed (every instance on the database serves every file), no statement carries more than
 * a few chunks, and a range reads only the chunks it overlaps. Each statement goes through the
 * app's `Db`, whose PostgreSQL client gives every query the answer deadline
 * (db/postgres-drizzle.ts); a large file is many short statements (WRITE_BATCH and READ_AHEAD
 * chunks each), never one long one that the statement timeout would end.
 */
import { and, asc, eq, gte, inArray, lte } from 'drizzle-orm';
import type { Db } from '../db';
import { blobChunks } from '../db/schema';
import type { Appended, BlobStore } from './store';

export const CHUNK_BYTES = 256 * 1024;

/** Chunks read per statement when streaming a range: enough to keep a download busy, bounded memory. */
const READ_AHEAD = 4;

/**
 * Chunks written per statement: on PGlite each statement outside a transaction is a commit with
 * its fsync, which made a 25 MiB upload a hundred of them; four cut that to 25 and hold 1 MiB per
 * upload in flight. (One transaction per upload would hold PGlite's one connection for as long as
 * the client takes to send.)
 */
const WRITE_BATCH = 4;

export class DatabaseBlobStore implements BlobStore {
	constructor(
		private readonly db: Db,
		private readonly chunkBytes = CHUNK_BYTES
	) {}

	get pieceBytes(): number {
		return this.chunkBytes;
	}

	async append(key: string, start: number, end: number, source: AsyncIterable<Uint8Array>): Promise<Appended> {
		if (start % this.chunkBytes !== 0) throw new Error(`An append to ${key} starts inside a chunk (${start})`);
		const index = start / this.chunkBytes;
		// What a request cut off (or a server killed) after its chunks but before the offset moved left there.
		await this.db.delete(blobChunks).where(and(eq(blobChunks.key, key), gte(blobChunks.index, index)));
		// A part-filled last chunk is kept only at the very end: offsets move in whole chunks until then.
		return this.fill(key, index, source, (received) => start + received === end);
	}

	async write(key: string, source: AsyncIterable<Uint8Array>): Promise<number> {
		const { kept, error } = await this.fill(key, 0, source, () => true);
		if (error === undefined) return kept;
		await this.delete([key]).catch(() => {});
		throw error;
	}

	/**
	 * Copies `source` into chunk rows from chunk `index` on. One chunk being filled (pieces of the
	 * source are copied in) and one batch of full ones are all that is held. The part-filled last
	 * chunk is stored if `keepTail(bytes received)` says so. A broken source or a failed insert does
	 * not throw: what was stored is reported with the error.
	 */
	private async fill(
		key: string,
		index: number,
		source: AsyncIterable<Uint8Array>,
		keepTail: (received: number) => boolean
	): Promise<Appended> {
		let kept = 0;
		let received = 0;
		let chunk = Buffer.allocUnsafe(this.chunkBytes);
		let filled = 0;
		let full: { key: string; index: number; data: Buffer }[] = [];
		const write = async () => {
			if (full.length === 0) return;
			const rows = full;
			full = [];
			await this.db.insert(blobChunks).values(rows);
			kept += rows.reduce((sum, row) => sum + row.data.byteLength, 0);
		};
		const seal = async () => {
			// A copy of exactly the filled part: the driver may hold the buffer after the call returns.
			full.push({ key, index: index++, data: Buffer.from(chunk.subarray(0, filled)) });
			filled = 0;
			if (full.length === WRITE_BATCH) await write();
		};
		try {
			for await (const piece of source) {
				let offset = 0;
				while (offset < piece.byteLength) {
					const n = Math.min(this.chunkBytes - filled, piece.byteLength - offset);
					chunk.set(piece.subarray(offset, offset + n), filled);
					filled += n;
					offset += n;
					if (filled === this.chunkBytes) await seal();
				}
				received += piece.byteLength;
			}
			if (filled > 0 && keepTail(received)) await seal();
			await write();
			return { kept };
		} catch (error) {
			// Whole chunks received before the source broke count; a failed insert leaves `kept` as it was.
			await write().catch(() => {});
			return { kept, error };
		} finally {
			chunk = Buffer.alloc(0);
		}
	}

	async *read(key: string, start: number, end: number): AsyncIterable<Uint8Array> {
		const first = Math.floor(start / this.chunkBytes);
		const last = Math.floor(end / this.chunkBytes);
		for (let from = first; from <= last; from += READ_AHEAD) {
			const to = Math.min(last, from + READ_AHEAD - 1);
			const rows = await this.db
				.select({ index: blobChunks.index, data: blobChunks.data })
				.from(blobChunks)
				.where(and(eq(blobChunks.key, key), gte(blobChunks.index, from), lte(blobChunks.index, to)))
				.orderBy(asc(blobChunks.index));
			if (rows.length !== to - from + 1) throw new Error(`Blob ${key} is missing chunks ${from}–${to}`);
			for (const row of rows) {
				const base = row.index * this.chunkBytes;
				const lo = Math.max(start, base) - base;
				const hi = Math.min(end + 1, base + row.data.byteLength) - base;
				yield row.data.subarray(lo, hi);
			}
		}
	}

	async delete(keys: string[]): Promise<void> {
		if (keys.length === 0) return;
		await this.db.delete(blobChunks).where(inArray(blobChunks.key, keys));
	}
}
