// @vitest-environment jsdom
import { describe, expect, test } from 'vitest';
import { formatMessage } from './format';
import { expectOnlyAllowed, parse } from './test-dom';

function format(text: string): string {
	const html = formatMessage(text);
	expectOnlyAllowed(html);
	return html;
}

const LINK = 'target="_blank" rel="noopener noreferrer nofollow"';

describe('the formatting subset', () => {
	test.each([
		['bold', '**bold**', '<strong>bold</strong>'],
		['bold with underscores', '__bold__', '<strong>bold</strong>'],
		['italic', '*italic*', '<em>italic</em>'],
		['italic with underscores', '_italic_', '<em>italic</em>'],
		['strike', '~~gone~~', '<s>gone</s>'],
		['inline code', 'run `npm test` now', 'run <code>npm test</code> now'],
		['nested emphasis', '**bold _and italic_**', '<strong>bold <em>and italic</em></strong>'],
		['a fenced block, info string dropped', '```ts\nconst a = 1;\n  indented\n```', '<pre><code>const a = 1;\n  indented</code></pre>'],
		['a quote', '> quoted\nstill quoted', '<blockquote>quoted\nstill quoted</blockquote>'],
		['a nested quote', '> one\n>> two', '<blockquote>one\n<blockquote>two</blockquote></blockquote>'],
		[
			'a URL',
			'see https://example.com/a_b_c?q=1#x',
			`see <a href="https://example.com/a_b_c?q=1#x" ${LINK}>https://example.com/a_b_c?q=1#x</a>`
		],
		['an e-mail address', 'mail a@example.com', `mail <a href="mailto:a@example.com" ${LINK}>a@example.com</a>`],
		['a mailto URL', 'mailto:a@example.com', `<a href="mailto:a@example.com" ${LINK}>mailto:a@example.com</a>`],
		['a URL in bold', '**https://example.com**', `<strong><a href="https://example.com" ${LINK}>https://example.com</a></strong>`],
		['an escaped marker', '\\*not italic\\*', '*not italic*']
	])('%s', (_name, text, html) => {
		expect(format(text)).toBe(html);
	});

	test('a single newline stays a line break, kept as the newline under pre-wrap', () => {
		expect(format('one\ntwo')).toBe('one\ntwo');
		expect(format('one  \ntwo')).toBe('one\ntwo');
	});

	test('paragraphs and blocks are parted by the blank lines typed between them', () => {
		expect(format('one\n\n\ntwo')).toBe('one\n\n\ntwo');
		expect(format('> quote\n\nafter\n```\ncode\n```\n\n> again\nmore')).toBe(
			'<blockquote>quote</blockquote>\nafter\n<pre><code>code</code></pre>\n<blockquote>again\nmore</blockquote>'
		);
		expect(format('> one\n>\n>\n> two')).toBe('<blockquote>one\n\n\ntwo</blockquote>');
	});

	test('a link shows the URL exactly as typed, not decoded', () => {
		const fragment = parse(format('https://xn--e1awd7f.com/%D0%B0 https://example.com/a%20b'));
		expect([...fragment.querySelectorAll('a')].map((a) => a.textContent)).toEqual([
			'https://xn--e1awd7f.com/%D0%B0',
			'https://example.com/a%20b'
		]);
	});

	test('code keeps its content literal', () => {
		expect(format('`**not bold** <b>x</b>`')).toBe('<code>**not bold** &lt;b&gt;x&lt;/b&gt;</code>');
		expect(format('```\nhttps://example.com _x_\n```')).toBe('<pre><code>https://example.com _x_</code></pre>');
	});
});

describe('what stays text', () => {
	test.each([
		['a heading', '# Title'],
		['a setext heading', 'Title\n====='],
		['a list', '- one\n- two'],
		['an ordered list', '1. one\n2. two'],
		['an image', '![alt](https://example.com/a.png)'],
		['a table', '| a | b |\n| - | - |\n| 1 | 2 |'],
		['a rule', '---'],
		['HTML', '<b>x</b>'],
		['an HTML block', '<div>\nx\n</div>'],
		['an entity', '&amp; &lt;b&gt; &#106;'],
		['a markdown link', '[text](https://example.com)'],
		['a reference link', '[text][1]\n\n[1]: https://example.com'],
		['an angle-bracket autolink', '<https://example.com>'],
		['indented code', '    four spaces'],
		['an intraword underscore', 'snake_case_name'],
		['a lone marker', '2 * 3 = 6 and a_b'],
		['typography', '"quotes" -- (c) ...']
	])('%s', (_name, text) => {
		const fragment = parse(format(text));
		expect(fragment.querySelectorAll('h1, h2, ul, ol, li, img, table, hr, b, div').length).toBe(0);
		expect(fragment.textContent).toBe(text.replace(/^ +/gm, ''));
	});

	test('the URL inside link syntax is still linked, showing where it leads', () => {
		const fragment = parse(format('[text](https://example.com)'));
		expect([...fragment.querySelectorAll('a')].map((a) => a.getAttribute('href'))).toEqual(['https://example.com']);
	});

	test('a bare domain or file name stays text: only a URL with its scheme is linked', () => {
		expect(format('open notes.md or www.example.com')).toBe('open notes.md or www.example.com');
	});
});
