import { describe, expect, test } from 'vitest';
import { isEmojiOnly } from './emoji-only';

describe('isEmojiOnly', () => {
	test.each(['🎉', '❤', '❤️', '👍🏽', '👨‍👩‍👧‍👦', '🇫🇷', '1️⃣', '🏴󠁧󠁢󠁳󠁣󠁴󠁿', '😀😀😀', ' 🎉 ', '🎉 🎉\n🎉', '👨‍👩‍👧‍👦👨‍👩‍👧‍👦👨‍👩‍👧‍👦'])('%s is', (text) => {
		expect(isEmojiOnly(text)).toBe(true);
	});

	test.each([
		['empty', ''],
		['whitespace', ' \n '],
		['four emoji', '😀😀😀😀'],
		['text after', '🎉 yay'],
		['a letter', 'a'],
		['a digit', '1'],
		['punctuation', '!'],
		['formatting around', '**🎉**'],
		['a zero-width space between', '🎉\u200b🎉'],
		['very long', '🎉'.repeat(200)]
	])('%s is not', (_name, text) => {
		expect(isEmojiOnly(text)).toBe(false);
	});
});
