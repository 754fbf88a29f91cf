/**
 * Whether a message is only a few emoji, which the bubble shows larger instead of formatting. Kept
 * apart from the formatter so the check costs the chat route nothing: it reuses the reaction check.
 */
import { isSingleEmoji } from '$lib/message-rules';

const MAX_EMOJI = 3;
/** Longer than three of the longest emoji sequences (tag flags, ZWJ families) cannot qualify: no need to segment it. */
const MAX_LENGTH = MAX_EMOJI * 32;
const graphemes = new Intl.Segmenter('en', { granularity: 'grapheme' });
const WHITESPACE = /^\s+$/u;

/** One to three emoji, with nothing but whitespace around or between them. */
export function isEmojiOnly(text: string): boolean {
	if (text.length > MAX_LENGTH) return false;
	let count = 0;
	for (const { segment } of graphemes.segment(text)) {
		if (WHITESPACE.test(segment)) continue;
		if (++count > MAX_EMOJI || !isSingleEmoji(segment)) return false;
	}
	return count > 0;
}
