import { render } from 'svelte/server';
import { describe, expect, test } from 'vitest';
import type { LinkPreview } from '$lib/types';
import MessageItem from '../MessageItem.svelte';

const preview: LinkPreview = {
	url: 'https://news.example/story',
	title: 'Lighthouse & keeper',
	description: 'A story.',
	siteName: 'Local news',
	imageUrl: `/api/previews/image?url=${encodeURIComponent('https://news.example/story')}`
};

function html(message: { body?: string; preview?: LinkPreview | null; deletedAt?: string | null }, mine = false) {
	const props = {
		message: {
			id: 'm1',
			senderId: mine ? 'me' : 'peer',
			body: 'see https://news.example/story',
			createdAt: new Date(0).toISOString(),
			editedAt: null,
			deletedAt: null,
			reactions: [],
			replyTo: null,
			seq: 1,
			...message
		},
		me: 'me',
		nameOf: () => 'peer',
		quote: null,
		mine,
		status: null,
		now: new Date(0)
	};
	return render(MessageItem, { props }).body.replace(/<!--[^>]*-->/g, '');
}

describe('a link preview in a bubble', () => {
	test('is one link to the page, in a new tab with no opener or referrer, under the body', () => {
		const out = html({ preview });
		expect(out).toMatch(/<a href="https:\/\/news.example\/story" target="_blank" rel="noopener noreferrer" data-testid="link-preview"/);
		expect(out.indexOf('data-testid="message-body"')).toBeLessThan(out.indexOf('data-testid="link-preview"'));
		expect(out).toContain('>Local news</p>');
		expect(out).toContain('Lighthouse &amp; keeper');
		expect(out).toMatch(/class="line-clamp-3[^"]*"[^>]*>A story.<\/p>/);
	});

	test('shows the picture through the proxy only, in a box shaped before it loads', () => {
		const out = html({ preview });
		expect(out).toMatch(/<div class="aspect-\[1.91\/1\][^"]*"><img src="\/api\/previews\/image\?url=https%3A%2F%2Fnews.example%2Fstory"/);
		expect(html({ preview: { ...preview, imageUrl: 'https://tracker.example/pixel.png' } })).not.toContain('<img');
		expect(html({ preview: { ...preview, imageUrl: null } })).not.toContain('aspect-[1.91/1]');
	});

	test('no card for a link that is not http(s), none without a preview, none once deleted; the host stands in for a missing site name', () => {
		expect(html({ preview: { ...preview, url: 'javascript:alert(1)' } })).not.toContain('link-preview');
		expect(html({ preview: null })).not.toContain('link-preview');
		expect(html({ preview: undefined })).not.toContain('link-preview');
		expect(html({ preview, deletedAt: new Date(0).toISOString() })).not.toContain('link-preview');
		expect(html({ preview: { ...preview, siteName: null } })).toContain('>news.example</p>');
	});

	test('in my own bubble its text is light', () => {
		expect(html({ preview }, true)).toMatch(/data-testid="link-preview"[^>]*class="[^"]*bg-white\/15/);
	});
});
