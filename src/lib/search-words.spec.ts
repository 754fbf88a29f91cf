import { describe, expect, test } from 'vitest';
import { FOLD_FROM, FOLD_TO, foldAccents, matchesWords, searchWords } from './search-words';

describe('search words', () => {
	test('accents and case are ignored, letters stay where they are', () => {
		expect(foldAccents('Héllo, Ça va? Øre Łódź ŠKODA ễ')).toBe('Hello, Ca va? Ore Lodz SKODA e');
		const text = 'naïve café crème brûlée, 漢字 and emoji 👍🏽';
		expect(foldAccents(text)).toHaveLength(text.length);
		expect(searchWords('HÉLLO wörld')).toEqual(['hello', 'world']);
	});

	test('the table is one letter for one, with nothing SQL would need quoted', () => {
		expect([...FOLD_FROM]).toHaveLength([...FOLD_TO].length);
		expect(FOLD_FROM.length).toBe(FOLD_TO.length);
		expect(new Set(FOLD_FROM).size).toBe(FOLD_FROM.length);
		expect(FOLD_FROM + FOLD_TO).not.toMatch(/['\\]/);
		expect(FOLD_TO).toMatch(/^[A-Za-z]+$/);
	});

	test('at most 8 words of at most 64 letters; punctuation is no word', () => {
		expect(searchWords('a b c d e f g h i j')).toHaveLength(8);
		expect(searchWords('x'.repeat(100))[0]).toHaveLength(64);
		expect(searchWords('&|!:*()')).toEqual([]);
	});

	test('every word must start a word of the body', () => {
		expect(matchesWords('Héllo wörld', searchWords('hello wor'))).toBe(true);
		expect(matchesWords('hello world', searchWords('héllo'))).toBe(true);
		expect(matchesWords('hello world', searchWords('ello'))).toBe(false);
		expect(matchesWords('hello', searchWords('hello there'))).toBe(false);
	});
});
