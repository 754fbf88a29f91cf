import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { openDatabase, type Database } from '../db';
import { DatabaseBlobStore } from './database-store';

async function collect(source: AsyncIterable<Uint8Array>): Promise<Buffer> {
	const parts: Uint8Array[] = [];
	for await (const part of source) parts.push(part);
	return Buffer.concat(parts);
}

async function* pieces(bytes: Buffer, size: number) {
	for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

describe('DatabaseBlobStore', () => {
	let database: Database;
	// Tiny chunks, so ranges cross many chunk boundaries and read-ahead windows.
	let store: DatabaseBlobStore;
	const bytes = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));

	beforeAll(async () => {
		database = await openDatabase('memory://', '');
		store = new DatabaseBlobStore(database.db, 64);
	});
	afterAll(() => database.close());

	test('writes a stream in chunks whatever its pieces, and reads any range back', async () => {
		expect(await store.write('a', pieces(bytes, 37))).toBe(1000);
		expect(await collect(store.read('a', 0, 999))).toEqual(bytes);
		for (const [start, end] of [
			[0, 0],
			[63, 64],
			[100, 700],
			[999, 999],
			[256, 511]
		]) {
			expect(await collect(store.read('a', start, end))).toEqual(bytes.subarray(start, end + 1));
		}
	});

	test('a source that fails leaves nothing stored', async () => {
		async function* failing() {
			yield bytes.subarray(0, 200);
			throw new Error('client gone');
		}
		await expect(store.write('b', failing())).rejects.toThrow('client gone');
		await expect(collect(store.read('b', 0, 10))).rejects.toThrow(/missing chunks/);
	});

	test('delete removes the blob; deleting what is not there is fine', async () => {
		await store.write('c', pieces(bytes, 500));
		await store.delete(['c', 'nothing']);
		await expect(collect(store.read('c', 0, 0))).rejects.toThrow(/missing chunks/);
	});

	test('append keeps whole chunks, the last one only where the blob ends, and replaces what was after its start', async () => {
		// Pieces cut across chunks; the source ends 10 bytes into a chunk that does not end the blob.
		expect(await store.append('d', 0, 1000, pieces(bytes.subarray(0, 330), 37))).toEqual({ kept: 320 });
		async function* broken() {
			yield bytes.subarray(320, 500);
			throw new Error('connection cut');
		}
		const cut = await store.append('d', 320, 1000, broken());
		expect(cut.kept).toBe(128);
		expect((cut.error as Error).message).toBe('connection cut');
		// Chunks a crash left past the offset are replaced, not doubled.
		await store.append('d', 448, 1000, pieces(bytes.subarray(448, 600), 100));
		expect(await store.append('d', 448, 1000, pieces(bytes.subarray(448), 100))).toEqual({ kept: 552 });
		expect(await collect(store.read('d', 0, 999))).toEqual(bytes);
		await expect(store.append('d', 10, 1000, pieces(bytes, 10))).rejects.toThrow(/inside a chunk/);
	});
});
