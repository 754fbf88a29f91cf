/**
 * The link of a message that gets a preview: its first http(s) link as the client's formatter
 * (src/lib/client/rich-text/markdown.ts) makes it, so that what is previewed is a link the reader
 * sees. Hence markdown-it with the formatter's rules, and with it the same linkify-it: a URL in a
 * code span is no link, and `**https://x.example**` links without the asterisks.
 * first-url.spec.ts checks the two agree.
 */
import MarkdownIt from 'markdown-it';

const md = new MarkdownIt('zero', { html: false, linkify: true, breaks: false, typographer: false });
md.enable(['blockquote', 'fence', 'newline', 'escape', 'backticks', 'emphasis', 'strikethrough', 'linkify']);
// The formatter links mailto too; a preview is only ever of a web page.
md.validateLink = (url) => /^https?:/i.test(url.trim());

export function firstUrl(text: string): string | null {
	for (const block of md.parse(text, {})) {
		const href = block.children?.find((token) => token.type === 'link_open')?.attrGet('href');
		if (typeof href === 'string') return href;
	}
	return null;
}
