import { describe, expect, test } from 'vitest';
import { withUnread } from './tab-title';

describe('withUnread', () => {
	test('puts the count in front', () => expect(withUnread('Duet', 3)).toBe('(3) Duet'));
	test('replaces an older count rather than adding a second', () => expect(withUnread('(3) bob · Duet', 4)).toBe('(4) bob · Duet'));
	test('nothing unread: the title alone', () => expect(withUnread('(2) Duet', 0)).toBe('Duet'));
	test('a title that merely contains brackets is left alone', () => expect(withUnread('Search (beta)', 0)).toBe('Search (beta)'));
});
