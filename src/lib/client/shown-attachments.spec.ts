// @vitest-environment node
import { describe, expect, it } from 'vitest';
import type { Attachment } from '$lib/types';
import type { PendingUpload } from './db';
import { messageSummary, shownAttachments } from './shown-attachments';

const stored: Attachment = {
	id: 'a1',
	name: 'a.png',
	type: 'image/png',
	size: 3,
	width: 4,
	height: 2,
	url: '/api/attachments/a1',
	thumbnailUrl: '/api/attachments/a1/thumbnail'
};

function upload(order: number, patch: Partial<PendingUpload> = {}): PendingUpload {
	return {
		id: `u${order}`,
		messageId: 'm',
		conversationId: 'c',
		clientSeq: 1,
		order,
		blob: new Blob(['x']),
		name: `f${order}.txt`,
		type: 'text/plain',
		size: 1,
		width: null,
		height: null,
		state: 'queued',
		attempts: 0,
		nextAttemptAt: 0,
		...patch
	};
}

describe('shownAttachments', () => {
	it("shows this device's copies in the order chosen while it has them, with the server's fields once stored", () => {
		const shown = shownAttachments({ attachments: [], deletedAt: null }, [
			upload(1),
			upload(0, { state: 'stored', attachment: stored, type: 'image/png' })
		]);
		expect(shown.map((a) => [a.key, a.image, a.url, a.upload?.state])).toEqual([
			['a1', true, '/api/attachments/a1', 'stored'],
			['u1', false, null, 'queued']
		]);
		expect(shown[0].blob).not.toBeNull();
	});

	it("shows the server's attachments otherwise, and nothing once deleted", () => {
		expect(shownAttachments({ attachments: [stored], deletedAt: null }).map((a) => [a.key, a.image, a.blob])).toEqual([['a1', true, null]]);
		expect(shownAttachments({ attachments: [stored], deletedAt: 'x' }, [upload(0)])).toEqual([]);
	});
});

describe('messageSummary', () => {
	it('is the text, else what the message carries', () => {
		expect(messageSummary({ body: 'hi', attachments: [stored] })).toBe('hi');
		expect(messageSummary({ body: '', attachments: [stored] })).toBe('📎 a.png');
		expect(messageSummary({ body: '', attachments: [stored, stored] })).toBe('📎 2 files');
		expect(messageSummary({ body: '' })).toBe('');
	});
});
