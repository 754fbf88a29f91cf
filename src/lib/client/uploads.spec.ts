// @vitest-environment node
import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { AppError } from '$lib/errors';
import type { SendInput } from '$lib/schemas';
import type { Attachment } from '$lib/types';
import { checkFiles, humanSize, MAX_FILE_BYTES, MAX_FILES } from './attachment-rules';
import { openUserDb, type DuetDb } from './db';
import { MAX_ATTEMPTS, OutboxScheduler, deleteUnsent, enqueueMessage, retryMessage } from './outbox';
import { freshDb, ManualClock } from './test-db';
import { UploadAborted, type UploadRequest } from './upload-http';
import { UploadScheduler } from './upload-scheduler';
import { cancelUpload, enqueueWithFiles, FilesRefused, type ChosenFile } from './uploads';

const A = '00000000-0000-4000-8000-00000000000a';

function file(name: string, size = 3): ChosenFile {
	return { blob: new Blob([new Uint8Array(size)], { type: 'image/png' }), name, type: 'image/png', size, width: 40, height: 30 };
}

function attachmentFor(name: string, n: number): Attachment {
	const id = `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
	return {
		id,
		name,
		type: 'image/png',
		size: 3,
		width: 40,
		height: 30,
		url: `/api/attachments/${id}`,
		thumbnailUrl: `/api/attachments/${id}/thumbnail`
	};
}

/** A request the spec answers by hand. */
interface Pending {
	request: UploadRequest;
	resolve(attachment: Attachment): void;
	reject(error: unknown): void;
	aborted: boolean;
}

/** Resolves once everything the schedulers started in reaction to the last step has settled. */
const settle = async () => {
	for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 0));
};

function setup(db: DuetDb = freshDb()) {
	const clock = new ManualClock();
	const sent: SendInput[] = [];
	const requests: Pending[] = [];
	const progress: [string, number | null][] = [];
	let online = true;
	let counter = 0;
	const outbox = new OutboxScheduler({
		db,
		send: (frame) => {
			sent.push(frame);
			return true;
		},
		now: clock.now,
		random: () => 0.5
	});
	const uploads = new UploadScheduler({
		db,
		now: clock.now,
		random: () => 0.5,
		online: () => online,
		upload: (request) =>
			new Promise<Attachment>((resolve, reject) => {
				const pending: Pending = { request, resolve, reject, aborted: false };
				requests.push(pending);
				request.signal?.addEventListener('abort', () => {
					pending.aborted = true;
					reject(new UploadAborted());
				});
			}),
		progress: (id, fraction) => progress.push([id, fraction]),
		onStored: () => void outbox.run()
	});
	return {
		db,
		clock,
		sent,
		requests,
		progress,
		outbox,
		uploads,
		setOnline: (up: boolean) => (online = up),
		/** Answers the oldest unanswered request with a stored attachment. */
		async succeed() {
			const open = requests.filter((r) => !r.aborted);
			const next = open[0];
			requests.splice(requests.indexOf(next), 1);
			next.resolve(attachmentFor(next.request.name, ++counter));
			await settle();
		},
		async refuse(error: unknown) {
			const next = requests.shift()!;
			next.reject(error);
			await settle();
		},
		async start() {
			await outbox.setConnected(true);
			await uploads.setConnected(true);
			await settle();
		},
		send: (files: ChosenFile[], body = '') => enqueueWithFiles(db, { conversationId: A, senderId: 'me', body }, files, clock.now)
	};
}

describe('enqueueWithFiles', () => {
	it('stores the message, its outbox item and every file with its bytes, in order', async () => {
		const t = setup();
		const m = await t.send([file('a.png', 5), file('b.png', 7)], 'caption');
		expect(await t.db.messages.get(m.id)).toMatchObject({ status: 'sending', body: 'caption', attachments: [] });
		expect(await t.db.outbox.get(m.id)).toMatchObject({ state: 'queued' });
		const rows = await t.db.uploads.where('messageId').equals(m.id).sortBy('order');
		expect(rows.map((r) => [r.name, r.state, r.size, r.order])).toEqual([
			['a.png', 'queued', 5, 0],
			['b.png', 'queued', 7, 1]
		]);
		expect(rows[0].blob.size).toBe(5);
	});

	it(`refuses more than ${MAX_FILES} files or one over 25 MiB, and stores nothing`, async () => {
		const t = setup();
		const eleven = Array.from({ length: MAX_FILES + 1 }, (_, i) => file(`f${i}.png`));
		await expect(t.send(eleven)).rejects.toBeInstanceOf(FilesRefused);
		await expect(t.send([file('huge.bin', MAX_FILE_BYTES + 1)])).rejects.toThrow(/huge\.bin is larger than 25 MB/);
		expect(await t.db.messages.count()).toBe(0);
		expect(await t.db.outbox.count()).toBe(0);
		expect(await t.db.uploads.count()).toBe(0);
	});
});

describe('checkFiles', () => {
	it('keeps what fits, in order, and says why the rest does not', () => {
		const files = [
			{ name: 'ok.png', size: 10 },
			{ name: 'empty.txt', size: 0 },
			{ name: 'big.mov', size: MAX_FILE_BYTES + 1 },
			{ name: 'exact.bin', size: MAX_FILE_BYTES }
		];
		const { accepted, refused } = checkFiles(0, files);
		expect(accepted.map((f) => f.name)).toEqual(['ok.png', 'exact.bin']);
		expect(refused).toEqual(['empty.txt is empty.', 'big.mov is larger than 25 MB.']);
		const full = checkFiles(MAX_FILES - 1, [files[0], files[3], files[0]]);
		expect(full.accepted).toHaveLength(1);
		expect(full.refused).toEqual(['A message can carry at most 10 files; 2 were left out.']);
	});

	it('reads sizes in binary units', () => {
		expect([0, 1, 1023, 1536, 10 * 1024, 25 * 1024 * 1024].map(humanSize)).toEqual([
			'0 bytes',
			'1 byte',
			'1023 bytes',
			'1.5 KB',
			'10 KB',
			'25 MB'
		]);
	});
});

describe('UploadScheduler with the outbox', () => {
	it('uploads one file at a time, then releases the message to the outbox with its files', async () => {
		const t = setup();
		const m = await t.send([file('a.png'), file('b.png')], 'two pictures');
		await t.start();
		expect(t.sent).toEqual([]);
		expect(t.requests.map((r) => [r.request.name, r.request.conversationId])).toEqual([['a.png', A]]);
		const states = await t.db.uploads.where('messageId').equals(m.id).sortBy('order');
		expect(states.map((r) => r.state)).toEqual(['uploading', 'queued']);

		await t.succeed();
		expect(t.sent).toEqual([]);
		expect(t.requests.map((r) => r.request.name)).toEqual(['b.png']);

		await t.succeed();
		expect(t.sent.map((f) => [f.id, f.body])).toEqual([[m.id, 'two pictures']]);
		const row = await t.db.messages.get(m.id);
		expect(row?.attachments.map((a) => a.name)).toEqual(['a.png', 'b.png']);
		// The send names the stored files by the server's ids, in the order they were chosen.
		expect(t.sent[0].attachments).toEqual(row!.attachments.map((a) => a.id));
		expect(t.progress.filter(([, f]) => f === null)).toHaveLength(2);

		await t.outbox.onAck({ id: m.id, conversationId: A, seq: 1, createdAt: new Date(0).toISOString() });
		expect(await t.db.uploads.count()).toBe(0);
		expect((await t.db.messages.get(m.id))?.status).toBe('sent');
	});

	it('holds later messages of the conversation behind the one whose files are uploading', async () => {
		const t = setup();
		const first = await t.send([file('a.png')]);
		const second = await enqueueMessage(t.db, { conversationId: A, senderId: 'me', body: 'after' }, t.clock.now);
		await t.start();
		expect(t.sent).toEqual([]);
		await t.succeed();
		expect(t.sent.map((f) => f.id)).toEqual([first.id, second.id]);
	});

	it('starts nothing and spends no attempt while offline, and uploads when the network returns', async () => {
		const t = setup();
		t.setOnline(false);
		await t.send([file('a.png')]);
		await t.start();
		await t.uploads.run();
		expect(t.requests).toHaveLength(0);
		expect((await t.db.uploads.toArray())[0]).toMatchObject({ state: 'queued', attempts: 0 });
		t.setOnline(true);
		await t.uploads.setConnected(true);
		expect(t.requests).toHaveLength(1);
	});

	it('retries a retriable failure after a backoff, then fails the message after the last attempt', async () => {
		const t = setup();
		const m = await t.send([file('a.png')]);
		await t.start();
		await t.refuse(new AppError('unavailable', 'Try later.'));
		const row = (await t.db.uploads.toArray())[0];
		expect(row).toMatchObject({ state: 'queued', attempts: 1, lastError: 'Try later.' });
		// Full jitter with random 0.5: half of the first ceiling (1 s).
		expect(row.nextAttemptAt).toBe(t.clock.ms + 500);
		await t.uploads.run();
		expect(t.requests).toHaveLength(0);

		for (let attempt = 1; attempt < MAX_ATTEMPTS; attempt++) {
			t.clock.advance(60_000);
			await t.uploads.run();
			await settle();
			expect(t.requests).toHaveLength(1);
			await t.refuse(new AppError('internal', 'Broke.'));
		}
		expect((await t.db.uploads.toArray())[0]).toMatchObject({ state: 'failed', lastError: 'Broke.' });
		expect((await t.db.messages.get(m.id))?.status).toBe('failed');
		expect(await t.db.outbox.get(m.id)).toMatchObject({ state: 'failed', lastError: 'a.png: Broke.' });
	});

	it.each([
		['too_large', 'The file is too large.'],
		['unsupported_media_type', 'This type of file cannot be sent.'],
		['not_found', 'Not found.']
	] as const)('fails the message at once on a refusal (%s), and Retry uploads the file again', async (code, reason) => {
		const t = setup();
		const m = await t.send([file('a.png'), file('b.png')], 'hi');
		await t.start();
		await t.refuse(new AppError(code, reason));
		expect((await t.db.messages.get(m.id))?.status).toBe('failed');
		expect(await t.db.outbox.get(m.id)).toMatchObject({ state: 'failed', lastError: `a.png: ${reason}` });
		// The other file goes on meanwhile: a retry then only needs the refused one.
		await t.succeed();
		expect(t.sent).toEqual([]);

		await retryMessage(t.db, m.id);
		await t.uploads.run();
		await settle();
		expect(t.requests.map((r) => r.request.name)).toEqual(['a.png']);
		expect((await t.db.messages.get(m.id))?.status).toBe('sending');
		await t.succeed();
		expect(t.sent.map((f) => f.id)).toEqual([m.id]);
		expect((await t.db.messages.get(m.id))?.attachments.map((a) => a.name)).toEqual(['a.png', 'b.png']);
	});
});

describe('cancelling', () => {
	it('takes one file off: its request stops and the message goes without it', async () => {
		const t = setup();
		const m = await t.send([file('a.png'), file('b.png')], 'caption');
		await t.start();
		const [a, b] = await t.db.uploads.where('messageId').equals(m.id).sortBy('order');
		expect(await cancelUpload(t.db, a.id)).toBe(true);
		await t.uploads.cancel(a.id);
		await settle();
		expect(t.requests[0].aborted).toBe(true);
		expect(t.requests.filter((r) => !r.aborted).map((r) => r.request.name)).toEqual(['b.png']);
		await t.succeed();
		expect(t.sent.map((f) => f.body)).toEqual(['caption']);
		expect((await t.db.messages.get(m.id))?.attachments.map((x) => x.name)).toEqual(['b.png']);
		expect(await t.db.uploads.get(b.id)).toMatchObject({ state: 'stored' });
	});

	it('deletes a message with no text once its last file is taken off', async () => {
		const t = setup();
		const m = await t.send([file('a.png')]);
		const [a] = await t.db.uploads.toArray();
		await cancelUpload(t.db, a.id);
		expect(await t.db.messages.get(m.id)).toBeUndefined();
		expect(await t.db.outbox.get(m.id)).toBeUndefined();
	});

	it('deleting the unsent message removes its files too', async () => {
		const t = setup();
		const m = await t.send([file('a.png'), file('b.png')]);
		await deleteUnsent(t.db, m.id);
		expect(await t.db.uploads.count()).toBe(0);
	});

	it('a file of a message already sent is not taken off', async () => {
		const t = setup();
		const m = await t.send([file('a.png')]);
		await t.start();
		await t.succeed();
		await t.db.messages.update(m.id, { status: 'sent', seq: 1 });
		const [a] = await t.db.uploads.toArray();
		expect(await cancelUpload(t.db, a.id)).toBe(false);
	});
});

describe('reload', () => {
	it('a fresh scheduler on the same database uploads what the last page left, then sends the message', async () => {
		const name = `reload-${Date.now()}`;
		const before = setup(openUserDb(name));
		const m = await before.send([file('a.png'), file('b.png')], 'caption');
		await before.start();
		await before.succeed();
		// The page goes away with b.png half sent.
		expect((await before.db.uploads.toArray()).map((r) => r.state).sort()).toEqual(['stored', 'uploading']);
		before.db.close();

		const after = setup(openUserDb(name));
		await after.start();
		expect(after.requests.map((r) => r.request.name)).toEqual(['b.png']);
		expect((await after.db.uploads.toArray()).find((r) => r.name === 'b.png')?.blob.size).toBe(3);
		await after.succeed();
		expect(after.sent.map((f) => f.id)).toEqual([m.id]);
		expect((await after.db.messages.get(m.id))?.attachments.map((a) => a.name)).toEqual(['a.png', 'b.png']);
	});

	it('drops the local files of a message whose copy came from the stream instead of its ack', async () => {
		const t = setup();
		const m = await t.send([file('a.png')]);
		await t.db.transaction('rw', [t.db.messages, t.db.outbox], async () => {
			await t.db.messages.update(m.id, { status: 'sent', seq: 4 });
			await t.db.outbox.delete(m.id);
		});
		await t.start();
		expect(t.requests).toHaveLength(0);
		expect(await t.db.uploads.count()).toBe(0);
	});
});
