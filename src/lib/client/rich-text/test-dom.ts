/**
 * For the formatter's specs: what an HTML string the bubble would receive contains once a browser
 * parses it, checked against the allow-list independently of the sanitiser's own configuration.
 */
import { expect } from 'vitest';

const TAGS = new Set(['STRONG', 'EM', 'S', 'CODE', 'PRE', 'BLOCKQUOTE', 'A']);
const SCHEMES = new Set(['http:', 'https:', 'mailto:']);

export function parse(html: string): DocumentFragment {
	const template = document.createElement('template');
	template.innerHTML = html;
	return template.content;
}

/** Every element is allowed, and only links carry attributes: an http(s) or mailto href, a new tab, no opener. */
export function expectOnlyAllowed(html: string): DocumentFragment {
	const fragment = parse(html);
	for (const element of fragment.querySelectorAll('*')) {
		expect(TAGS, `<${element.tagName}> in ${html}`).toContain(element.tagName);
		const names = element.getAttributeNames().sort();
		if (element.tagName === 'A' && names.length > 0) {
			expect(names).toEqual(['href', 'rel', 'target']);
			expect(SCHEMES, `href ${element.getAttribute('href')}`).toContain(new URL(element.getAttribute('href')!).protocol);
			expect(element.getAttribute('target')).toBe('_blank');
			expect(element.getAttribute('rel')).toBe('noopener noreferrer nofollow');
		} else {
			expect(names, `attributes of <${element.tagName}> in ${html}`).toEqual([]);
		}
	}
	return fragment;
}

/** The tags of an HTML string in document order, to compare structures compactly. */
export function tagsOf(html: string): string[] {
	return [...parse(html).querySelectorAll('*')].map((element) => element.tagName.toLowerCase());
}
