// @vitest-environment jsdom
/**
 * Hostile text through the formatter, and hostile HTML straight into the sanitiser (the second wall
 * must hold even if the parser let something through): nothing outside the allow-list survives.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { MAX_BODY_CHARS } from '$lib/schemas';
import { formatMessage } from './format';
import { renderMarkdown } from './markdown';
import { sanitize } from './sanitize';
import { expectOnlyAllowed, parse } from './test-dom';

const hrefs = (html: string) => [...parse(html).querySelectorAll('a')].map((a) => a.getAttribute('href'));

describe('hostile text', () => {
	test.each([
		'<script>alert(1)</script>',
		'<img src=x onerror=alert(1)>',
		'<svg onload=alert(1)>',
		'<a href="javascript:alert(1)">x</a>',
		'<iframe src="https://example.com"></iframe>',
		'<style>body{display:none}</style>',
		'<p onclick="alert(1)" style="color:red">x</p>',
		'<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>',
		'<!-- x --><![CDATA[x]]>',
		'**<b onmouseover=alert(1)>x</b>**',
		'`<script>alert(1)</script>`',
		'```\n<script>alert(1)</script>\n```',
		'> <img src=x onerror=alert(1)>',
		'"><script>alert(1)</script>',
		"'';!--\"<XSS>=&{()}"
	])('HTML stays the text that was typed: %s', (text) => {
		const fragment = expectOnlyAllowed(formatMessage(text));
		expect(fragment.textContent).toBe(
			text
				.replace(/^`+\n?|\n?`+$/g, '')
				.replace(/^> /, '')
				.replace(/^\*\*|\*\*$/g, '')
		);
	});

	test.each([
		'javascript:alert(1)',
		'JaVaScRiPt:alert(1)',
		' javascript:alert(1)',
		'java\tscript:alert(1)',
		'java\nscript:alert(1)',
		'java\u200bscript:alert(1)',
		'&#106;avascript:alert(1)',
		'&#x6A;avascript:alert(1)',
		'javascript&colon;alert(1)',
		'javascript://example.com/%0aalert(1)',
		'vbscript:msgbox(1)',
		'data:text/html,<script>alert(1)</script>',
		'data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==',
		'data:image/png;base64,iVBORw0KGgo=',
		'file:///etc/passwd',
		'//example.com/x',
		'[x](javascript:alert(1))',
		'[x](JAVASCRIPT:alert(1))',
		'[x](&#106;avascript:alert(1))',
		'[x](data:text/html,x)',
		'[x](https://example.com "title")',
		'[x]: javascript:alert(1)\n\n[x]',
		'<javascript:alert(1)>',
		'<data:text/html,x>',
		'![x](javascript:alert(1))',
		'https://example.com/"onmouseover="alert(1)',
		"https://example.com/'><script>alert(1)</script>",
		'https://example.com/<img src=x onerror=alert(1)>',
		'mailto:a@example.com?subject=<script>'
	])('no link outside http(s) and mailto: %s', (text) => {
		const html = formatMessage(text);
		expectOnlyAllowed(html);
		for (const href of hrefs(html)) expect(href).toMatch(/^(?:https?|mailto):/);
	});

	test('a link keeps the quotes and brackets of its URL inside its href', () => {
		const html = formatMessage('https://example.com/"onmouseover="alert(1)');
		expect(hrefs(html)).toEqual(['https://example.com/%22onmouseover=%22alert(1)']);
	});

	test('bidi overrides and zero-width characters are kept as text, never as markup', () => {
		const text = '\u202ehttps://example.com/\u202dexe.txt \u200b**bold**\u200b \u2066x\u2069 \ufeff';
		const fragment = expectOnlyAllowed(formatMessage(text));
		expect(fragment.textContent).toBe(text.replaceAll('**', ''));
	});

	test('quotes nested a thousand deep finish and keep every character', () => {
		for (const text of ['>'.repeat(1000) + ' deep', '> '.repeat(1000) + 'deep', ('>'.repeat(30) + ' x\n').repeat(100)]) {
			const fragment = expectOnlyAllowed(formatMessage(text));
			expect(fragment.textContent).toBe(text);
		}
	});

	test('quotes nested as deep as the parser goes are formatted', () => {
		const fragment = expectOnlyAllowed(formatMessage('>'.repeat(18) + ' deep'));
		expect(fragment.querySelectorAll('blockquote')).toHaveLength(18);
		expect(fragment.textContent).toBe('deep');
	});

	test.each([
		'*',
		'_',
		'~',
		'`',
		'[',
		'(',
		'<',
		'\\',
		'>',
		'\n',
		' ',
		'**a',
		'*a_',
		'~~a',
		'_a*',
		'[a](',
		'![a',
		'`a``',
		'> \n',
		'```\n',
		'http://a.co/',
		'a@b.co ',
		'&#',
		'<a ',
		'\u202e'
	])('%j repeated to the longest body parses quickly and formats safely', (unit) => {
		const text = unit.repeat(Math.ceil(MAX_BODY_CHARS / unit.length)).slice(0, MAX_BODY_CHARS);
		const started = performance.now();
		renderMarkdown(text);
		// The parser takes at most tens of milliseconds on these; a quadratic blow-up would take seconds.
		// (Only the parser is timed: DOMPurify's speed here would be jsdom's, not a browser's.)
		expect(performance.now() - started).toBeLessThan(1000);
		expectOnlyAllowed(formatMessage(text));
	});
});

describe('the sanitiser alone', () => {
	test.each([
		'<script>alert(1)</script>x',
		'<img src=x onerror=alert(1)>',
		'<a href="javascript:alert(1)">x</a>',
		'<a href="JaVaScRiPt:alert(1)">x</a>',
		'<a href="java&#x09;script:alert(1)">x</a>',
		'<a href="&#106;avascript:alert(1)">x</a>',
		'<a href=" javascript:alert(1)">x</a>',
		'<a href="data:text/html,<script>alert(1)</script>">x</a>',
		'<a href="vbscript:msgbox(1)">x</a>',
		'<a href="//example.com">x</a>',
		'<a href="https://example.com" onclick="alert(1)" target="_self" rel="opener" style="x" id="x" class="x" data-x="1" aria-label="x">x</a>',
		'<strong onclick="alert(1)" class="x">x</strong>',
		'<svg><a xlink:href="javascript:alert(1)"><text>x</text></a></svg>',
		'<math><mi xlink:href="javascript:alert(1)">x</mi></math>',
		'<form action="https://example.com"><input name="x"><button>x</button></form>',
		'<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
		'<template><script>alert(1)</script></template>',
		'<pre><code class="language-js" onmouseover="alert(1)">x</code></pre>',
		'<blockquote cite="javascript:alert(1)">x</blockquote>',
		'<p>x</p><br><div>y</div><h1>z</h1><img src="https://example.com/a.png">'
	])('%s', (html) => {
		expectOnlyAllowed(sanitize(html));
	});

	test('a link it keeps opens in a new tab with no opener, whatever it asked for', () => {
		expect(sanitize('<a href="https://example.com" target="_self" rel="opener">x</a>')).toBe(
			'<a href="https://example.com" target="_blank" rel="noopener noreferrer nofollow">x</a>'
		);
	});

	test('a link whose href is refused is left as its text, not as a link', () => {
		expect(sanitize('<a href="javascript:alert(1)" target="_self">x</a>')).toBe('<a>x</a>');
	});
});

const MARKUP = ['*', '_', '~', '`', '>', '\\'];
/** Text a formatter should leave alone: anything but the markers of the subset, and no carriage return or NUL (the parser normalises those). */
const plainChar = fc
	.string({ unit: 'grapheme', minLength: 1, maxLength: 1 })
	.filter((c) => !MARKUP.some((m) => c.includes(m)) && !/[\r\0]/.test(c));
const plainWord = fc.string({ unit: plainChar, minLength: 1, maxLength: 12 }).filter((w) => !/\s/u.test(w));

describe('properties', () => {
	test('for any text, only allowed tags, attributes and schemes come out', () => {
		const hostile = fc.constantFrom(
			...MARKUP,
			'<',
			'>',
			'[',
			']',
			'(',
			')',
			':',
			'/',
			'&',
			'#',
			';',
			'"',
			"'",
			'=',
			' ',
			'\n',
			'\t',
			'a',
			'javascript',
			'data',
			'https',
			'mailto',
			'@',
			'.',
			'x.com',
			'script',
			'onerror'
		);
		fc.assert(
			fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 300 }), fc.string({ unit: hostile, maxLength: 120 })), (text) => {
				expectOnlyAllowed(formatMessage(text));
			})
		);
	});

	test('text without markup shows exactly as typed', () => {
		const line = fc.array(plainWord, { minLength: 1, maxLength: 8 }).map((words) => words.join(' '));
		fc.assert(
			fc.property(fc.array(line, { minLength: 1, maxLength: 6 }), fc.array(fc.nat(2), { minLength: 6, maxLength: 6 }), (lines, blanks) => {
				const text = lines.map((l, i) => (i === 0 ? l : '\n'.repeat(blanks[i - 1] + 1) + l)).join('');
				expect(parse(formatMessage(text)).textContent).toBe(text);
			})
		);
	});

	test('text without markup loses no character, however it is spaced', () => {
		fc.assert(
			fc.property(fc.string({ unit: plainChar, maxLength: 200 }), (text) => {
				const visible = (s: string) => s.replace(/\s+/gu, '');
				expect(visible(parse(formatMessage(text)).textContent!)).toBe(visible(text));
			})
		);
	});
});
