import { render } from 'svelte/server';
import { describe, expect, test } from 'vitest';
import MessageBody from './MessageBody.svelte';

/** The server's HTML for a body, without Svelte's hydration markers. */
function serverHtml(body: string): string {
	return render(MessageBody, { props: { body } }).body.replace(/<!--[^>]*-->/g, '');
}

describe('MessageBody on the server', () => {
	test('shows the body as plain text, its whitespace kept and its markup not formatted', () => {
		const html = serverHtml('**bold** <b>x</b> & https://example.com\n  indented\n\n\nlast');
		expect(html).toMatch(/^<div data-testid="message-body" class="[^"]*whitespace-pre-wrap[^"]*">/);
		expect(html).toContain('>**bold** &lt;b>x&lt;/b> &amp; https://example.com\n  indented\n\n\nlast</div>');
		expect(html).not.toContain('<strong');
		expect(html).not.toContain('<a');
	});

	test('shows a few emoji alone larger, and text with emoji at the usual size', () => {
		expect(serverHtml('🎉 👍🏽')).toMatch(/class="[^"]*text-4xl[^"]*">🎉 👍🏽</);
		expect(serverHtml('🎉 yay')).not.toContain('text-4xl');
	});
});
