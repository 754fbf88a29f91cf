import { describe, expect, it } from 'vitest';
import { renderMarkdown } from '$lib/client/rich-text/markdown';
import { firstUrl } from './first-url';

/** The first http(s) link the client's formatter makes of a message. */
function clientFirstUrl(text: string): string | null {
	const href = [...renderMarkdown(text).matchAll(/<a [^>]*href="([^"]*)"/g)]
		.map((match) => match[1].replaceAll('&amp;', '&'))
		.find((url) => /^https?:\/\//i.test(url));
	return href ?? null;
}

const SAMPLES: Array<[string, string | null]> = [
	['see https://a.example/x and http://b.example', 'https://a.example/x'],
	['mail me@c.example or mailto:me@c.example, then http://d.example/p?q=1&r=2', 'http://d.example/p?q=1&r=2'],
	['(https://e.example/path).', 'https://e.example/path'],
	['HTTPS://F.example/Up', 'HTTPS://F.example/Up'],
	['https://bücher.example/ä', 'https://xn--bcher-kva.example/%C3%A4'],
	['no link here', null],
	['ftp://g.example/file', null],
	['just me@h.example', null],
	['**https://i.example/bold**', 'https://i.example/bold'],
	['read notes.md first', null],
	['visit example.com today', null],
	['`https://j.example/code` is code, https://k.example/ is not', 'https://k.example/'],
	['```\nhttps://l.example/fenced\n```\nhttps://m.example/', 'https://m.example/'],
	['> quoted https://n.example/q', 'https://n.example/q']
];

describe('firstUrl', () => {
	it.each(SAMPLES)('%s → %s', (text, expected) => {
		expect(firstUrl(text)).toBe(expected);
	});

	it('agrees with the client formatter on what the first link is', () => {
		for (const [text] of SAMPLES) expect(firstUrl(text), text).toBe(clientFirstUrl(text));
	});
});
