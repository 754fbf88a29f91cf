// @vitest-environment node
import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { AppError } from '$lib/errors';
import type { Attachment } from '$lib/types';
import { freshDb, ManualClock } from './test-db';
import { UploadAborted, type UploadRequest } from './upload-http';
import { UPLOAD_TIMEOUT_MS, UploadScheduler } from './upload-scheduler';
import { enqueueWithFiles } from './uploads';

const A = '00000000-0000-4000-8000-00000000000a';

/** Resolves once everything the scheduler started in reaction to the last step has settled. */
const settle = async () => {
	for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 0));
};

interface Running {
	request: UploadRequest;
	resolve(attachment: Attachment): void;
	reject(error: unknown): void;
	aborted: boolean;
}

function setup() {
	const db = freshDb();
	const clock = new ManualClock();
	const started: Running[] = [];
	const uploads = new UploadScheduler({
		db,
		now: clock.now,
		random: () => 0.5,
		upload: (request) =>
			new Promise<Attachment>((resolve, reject) => {
				const running: Running = { request, resolve, reject, aborted: false };
				started.push(running);
				request.signal?.addEventListener('abort', () => {
					running.aborted = true;
					reject(new UploadAborted());
				});
			})
	});
	const queue = async () => {
		await enqueueWithFiles(db, { conversationId: A, senderId: 'me', body: '' }, [
			{ blob: new Blob([new Uint8Array(3)]), name: 'a.png', type: 'image/png', size: 3, width: 1, height: 1 }
		]);
	};
	return { db, clock, started, uploads, queue };
}

describe('UploadScheduler: one request per file while it is in flight', () => {
	it('a second online event (the service worker asking for a flush) does not start the file again', async () => {
		const t = setup();
		await t.queue();
		await t.uploads.setConnected(true);
		await settle();
		expect(t.started).toHaveLength(1);

		// background-sync.ts answers the worker's flush request with a synthetic `online` event.
		await t.uploads.setConnected(true);
		await t.uploads.run();
		await settle();
		expect(t.started).toHaveLength(1);
		expect(t.started[0].aborted).toBe(false);
	});

	it('neither passes, nor due-now, nor a lost and found network start a running file again', async () => {
		const t = setup();
		await t.queue();
		await Promise.all([t.uploads.setConnected(true), t.uploads.run(), t.uploads.run()]);
		await settle();
		await Promise.all([t.uploads.setConnected(false), t.uploads.setConnected(true), t.uploads.run()]);
		await settle();
		await t.uploads.setConnected(true);
		await settle();
		expect(t.started).toHaveLength(1);
		expect(t.started[0].aborted).toBe(false);

		// The request that survived is still the one whose answer counts.
		t.started[0].reject(new AppError('unavailable', 'Busy.'));
		await settle();
		expect((await t.db.uploads.toArray())[0]).toMatchObject({ state: 'queued', attempts: 1 });
	});

	it('a request that outlives its deadline is stopped before the retry starts', async () => {
		const t = setup();
		await t.queue();
		await t.uploads.setConnected(true);
		await settle();
		t.clock.advance(UPLOAD_TIMEOUT_MS + 1);
		await t.uploads.run();
		await settle();
		expect(t.started[0].aborted).toBe(true);
		t.clock.advance(60_000);
		await t.uploads.run();
		await settle();
		expect(t.started).toHaveLength(2);
		expect(t.started.filter((r) => !r.aborted)).toHaveLength(1);
	});

	it("keeps the server's upload id in the row, so the next attempt (or the next leader) resumes it", async () => {
		const t = setup();
		await t.queue();
		await t.uploads.setConnected(true);
		await settle();
		expect(t.started[0].request.uploadId).toBeUndefined();
		await t.started[0].request.onCreated?.('server-upload-1');
		expect((await t.db.uploads.toArray())[0].uploadId).toBe('server-upload-1');
		t.started[0].reject(new AppError('unavailable', 'Connection lost.'));
		await settle();
		t.clock.advance(60_000);
		await t.uploads.run();
		await settle();
		expect(t.started.map((r) => r.request.uploadId)).toEqual([undefined, 'server-upload-1']);
	});
});
