/**
 * The parser of message formatting: markdown-it cut down to the few constructs a chat message uses,
 * rendering only tags the sanitiser allows. It never emits user-supplied HTML: `html` is off and the
 * text renderer escapes.
 *
 * The subset, and nothing else:
 * - `**bold**` / `__bold__` → strong, `*italic*` / `_italic_` → em, `~~strike~~` → s
 * - `` `inline code` `` → code, blocks fenced by ``` or ~~~ lines → pre > code (the info string is
 *   dropped; a fence never closed runs to the end of the message)
 * - `>` block quotes (nested too) → blockquote
 * - http(s) and mailto URLs and e-mail addresses → links, shown exactly as typed (a bare domain like
 *   `notes.md` stays text: linkify-it's default, which needs a scheme)
 * - `\` escapes a markup character, so `\*` shows a literal `*`
 * Left as the text that was typed: headings, lists, tables, images, horizontal rules, indented code,
 * raw HTML, `[text](url)` and reference links (a link's text could hide where it leads), `<url>`
 * autolinks (the URL inside is linked anyway), entities (`&amp;` stays `&amp;`), setext headings.
 *
 * Whitespace: the bubble keeps `white-space: pre-wrap` as for plain text, and the output keeps the
 * newlines that were typed rather than turning them into tags: a single newline is the newline itself
 * (`breaks: false`; a `<br>` as well would show two), paragraphs are not wrapped in `<p>` but parted
 * by the blank lines between them, as many as were typed. So what the reader sees is the element's
 * textContent, as the plain text was. Lost only: the markers, and the spaces that begin or end a line.
 */
import MarkdownIt from 'markdown-it';
import type { Token } from 'markdown-it';

const ALLOWED_SCHEME = /^(?:https?|mailto):/i;

const md = new MarkdownIt('zero', { html: false, linkify: true, breaks: false, typographer: false });
md.enable(['blockquote', 'fence', 'newline', 'escape', 'backticks', 'emphasis', 'strikethrough', 'linkify']);
// Links only with a scheme we open; markdown-it's own check lets through every scheme it does not know.
md.validateLink = (url) => ALLOWED_SCHEME.test(url.trim());
// The default decodes punycode and percent-escapes for display: a look-alike host would then read as
// the one it imitates, and the text would differ from what was sent.
md.normalizeLinkText = (url) => url;

const rules = md.renderer.rules;
// A hard break (two trailing spaces, or `\` ending a line) looks the same as any newline.
rules.softbreak = () => '\n';
rules.hardbreak = () => '\n';

/**
 * A block quote opened at the last level markdown-it nests to has its content dropped, not kept as
 * text: such a message is shown unformatted rather than with words missing.
 */
function truncated(tokens: Token[]): boolean {
	const deepest = md.options.maxNesting - 1;
	return tokens.some((token) => token.type === 'blockquote_open' && token.level >= deepest);
}

interface Sibling {
	endLine: number;
	paragraph: boolean;
}

/**
 * The blank lines typed between two blocks, as newlines. After a paragraph (inline text) one more
 * ends its last line; after a quote or a code block, the element's own end does.
 */
function separator(previous: Sibling | undefined, startLine: number): string {
	if (!previous) return '';
	return '\n'.repeat(startLine - previous.endLine + (previous.paragraph ? 1 : 0));
}

/** The info string (a language) is dropped, and the newline that ends the last line. */
function fence(token: Token): string {
	return `<pre><code>${md.utils.escapeHtml(token.content.replace(/\n$/, ''))}</code></pre>`;
}

/**
 * The block tokens as HTML, by hand rather than with markdown-it's renderer, which wraps paragraphs
 * in `<p>` and separates blocks by one newline whatever was typed.
 */
function render(tokens: Token[]): string {
	let html = '';
	// One entry per open block (the first is the message): its source lines and the last block closed in it.
	const open: { lines?: [number, number]; last?: Sibling }[] = [{}];
	for (const token of tokens) {
		const parent = open[open.length - 1];
		if (token.nesting === 1) {
			html += separator(parent.last, token.map![0]);
			if (token.type === 'blockquote_open') html += '<blockquote>';
			open.push({ lines: token.map! });
		} else if (token.nesting === -1) {
			const { lines } = open.pop()!;
			if (token.type === 'blockquote_close') html += '</blockquote>';
			open[open.length - 1].last = { endLine: lines![1], paragraph: token.type === 'paragraph_close' };
		} else if (token.type === 'inline') {
			html += md.renderer.renderInline(token.children!, md.options, {});
		} else if (token.type === 'fence') {
			html += separator(parent.last, token.map![0]) + fence(token);
			parent.last = { endLine: token.map![1], paragraph: false };
		}
	}
	return html;
}

/** The HTML of a message body in the subset above; unsanitised, for `sanitize` to check. */
export function renderMarkdown(text: string): string {
	const tokens = md.parse(text, {});
	if (truncated(tokens)) return md.utils.escapeHtml(text);
	return render(tokens);
}
