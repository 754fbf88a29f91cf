/**
 * How search sees text, the same on the server (SQL and its index), in the browser's offline
 * search and in the highlighting: words are runs of letters and digits, matched as prefixes, with
 * case and accents ignored ("hello" finds "Héllo"). Accents are folded by a fixed one-letter-for-
 * one-letter table rather than by Unicode normalisation, so that PostgreSQL's translate() can apply
 * the very same table inside the GIN index expression, and so that folding never moves a letter
 * (a highlight found in the folded text is at the same place in the original).
 */

/** Letters that do not decompose into a base letter and a mark, but that people type without. */
const EXTRA: Record<string, string> = { ø: 'o', Ø: 'O', đ: 'd', Đ: 'D', ł: 'l', Ł: 'L', ħ: 'h', Ħ: 'H', ı: 'i' };

function foldTable(): [from: string, to: string] {
	let from = '';
	let to = '';
	const add = (letter: string, base: string) => {
		from += letter;
		to += base;
	};
	// Latin-1 Supplement, Latin Extended-A and -B, Latin Extended Additional.
	for (const [start, end] of [
		[0xc0, 0x24f],
		[0x1e00, 0x1eff]
	]) {
		for (let code = start; code <= end; code++) {
			const letter = String.fromCodePoint(code);
			const base = letter.normalize('NFD').replace(/\p{Mn}/gu, '');
			if (base.length === 1 && base !== letter && /[A-Za-z]/.test(base)) add(letter, base);
		}
	}
	for (const [letter, base] of Object.entries(EXTRA)) add(letter, base);
	return [from, to];
}

/** translate()'s two arguments: no quote in either, so they can stand in SQL as plain literals. */
export const [FOLD_FROM, FOLD_TO] = foldTable();

const FOLD = new Map([...FOLD_FROM].map((letter, i) => [letter, FOLD_TO[i]]));

/** The text with accents taken off its Latin letters; every other character, and the length, unchanged. */
export function foldAccents(text: string): string {
	let out = '';
	for (const char of text) out += FOLD.get(char) ?? char;
	return out;
}

export const MAX_SEARCH_WORDS = 8;
export const MAX_SEARCH_WORD_CHARS = 64;

/** The words of a query, folded and lower-cased, as many as count. */
export function searchWords(text: string): string[] {
	return (
		foldAccents(text)
			.toLowerCase()
			.match(/[\p{L}\p{N}]+/gu) ?? []
	)
		.slice(0, MAX_SEARCH_WORDS)
		.map((w) => w.slice(0, MAX_SEARCH_WORD_CHARS));
}

/** Whether `body` has every word as the start of one of its words (the server's rule, for local search). */
export function matchesWords(body: string, words: readonly string[]): boolean {
	const tokens =
		foldAccents(body)
			.toLowerCase()
			.match(/[\p{L}\p{N}]+/gu) ?? [];
	return words.every((w) => tokens.some((t) => t.startsWith(w)));
}
