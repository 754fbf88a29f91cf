/**
 * The second wall behind the parser: DOMPurify keeps only the tags and attributes the formatting
 * subset produces, and links only to http(s) and mailto, opened in a new tab without an opener or
 * referrer. Needs a DOM, so it runs in the browser only.
 */
import DOMPurify from 'dompurify';

// What the parser emits and no more: it parts paragraphs and lines with newlines, so not even p or br.
export const ALLOWED_TAGS = ['strong', 'em', 's', 'code', 'pre', 'blockquote', 'a'];
export const ALLOWED_ATTR = ['href', 'target', 'rel'];
export const ALLOWED_URI = /^(?:https?|mailto):/i;
export const LINK_REL = 'noopener noreferrer nofollow';

// An instance of our own, so the hook below applies to message bodies and nothing else on the page.
const purify = DOMPurify(window);
purify.addHook('afterSanitizeAttributes', (node) => {
	if (node.tagName !== 'A') return;
	if (node.hasAttribute('href')) {
		node.setAttribute('target', '_blank');
		node.setAttribute('rel', LINK_REL);
	} else {
		node.removeAttribute('target');
		node.removeAttribute('rel');
	}
});

export function sanitize(html: string): string {
	return purify.sanitize(html, {
		ALLOWED_TAGS,
		ALLOWED_ATTR,
		ALLOWED_URI_REGEXP: ALLOWED_URI,
		ALLOW_DATA_ATTR: false,
		ALLOW_ARIA_ATTR: false
	});
}
