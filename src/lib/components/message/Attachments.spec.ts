import { render } from 'svelte/server';
import { describe, expect, test } from 'vitest';
import type { PendingUpload } from '$lib/client/db';
import type { Attachment } from '$lib/types';
import MessageItem from '../MessageItem.svelte';

const picture: Attachment = {
	id: 'a1',
	name: 'beach.jpg',
	type: 'image/jpeg',
	size: 120_000,
	width: 1600,
	height: 900,
	url: '/api/attachments/a1',
	thumbnailUrl: '/api/attachments/a1/thumbnail'
};
const pdf: Attachment = {
	id: 'a2',
	name: 'report.pdf',
	type: 'application/pdf',
	size: 1536,
	width: null,
	height: null,
	url: '/api/attachments/a2',
	thumbnailUrl: null
};

function html(message: Partial<{ body: string; deletedAt: string | null; attachments: Attachment[] }>, uploads: PendingUpload[] = []) {
	const props = {
		message: {
			id: 'm1',
			senderId: 'peer',
			body: '',
			createdAt: new Date(0).toISOString(),
			editedAt: null,
			deletedAt: null,
			reactions: [],
			replyTo: null,
			seq: 1,
			attachments: [],
			...message
		},
		me: 'me',
		nameOf: () => 'peer',
		quote: null,
		mine: false,
		status: null,
		uploads,
		now: new Date(0)
	};
	return render(MessageItem, { props }).body.replace(/<!--[^>]*-->/g, '');
}

describe('attachments in a bubble', () => {
	test('a picture alone keeps its shape, sized before it loads, and opens the viewer from a named button', () => {
		const out = html({ attachments: [picture] });
		expect(out).toContain('aria-label="Open picture beach.jpg"');
		// A fixed width (capped by max-w-full): min(100%, …) resolves to nothing in a bubble sized by its content.
		expect(out).toMatch(/style="width: 288px; aspect-ratio: 1600 \/ 900"/);
		expect(out).toMatch(/style="width: 288px; aspect-ratio: 1600 \/ 900" class="[^"]*max-w-full/);
		expect(out).toContain('src="/api/attachments/a1/thumbnail"');
		expect(out).toMatch(/width="1600" height="900"/);
	});

	test('another file is a card with its name, type, size and a download link', () => {
		const out = html({ attachments: [pdf] });
		expect(out).toMatch(/<a href="\/api\/attachments\/a2" download="report.pdf"/);
		expect(out).toContain('PDF · 1.5 KB');
	});

	test('files without a caption show no empty line of text; with one, the caption shows', () => {
		expect(html({ attachments: [pdf] })).not.toContain('data-testid="message-body"');
		expect(html({ attachments: [pdf], body: 'see attached' })).toContain('see attached</div>');
		expect(html({ body: 'just text' })).toContain('data-testid="message-body"');
	});

	test('a deleted message shows no files', () => {
		const out = html({ attachments: [picture, pdf], deletedAt: new Date(0).toISOString() });
		expect(out).not.toContain('data-testid="attachments"');
		expect(out).toContain('This message was deleted');
	});

	test('an unsent file shows how its upload is going, or why it failed', () => {
		const upload = (state: PendingUpload['state'], lastError?: string): PendingUpload => ({
			id: `u-${state}`,
			messageId: 'm1',
			conversationId: 'c1',
			clientSeq: 1,
			order: 0,
			blob: new Blob(['x']),
			name: 'notes.txt',
			type: 'text/plain',
			size: 1,
			width: null,
			height: null,
			state,
			attempts: 0,
			nextAttemptAt: 0,
			lastError
		});
		expect(html({}, [upload('queued')])).toContain('Waiting to upload');
		expect(html({}, [upload('failed', 'The file is too large.')])).toContain('Not uploaded: The file is too large.');
	});
});
