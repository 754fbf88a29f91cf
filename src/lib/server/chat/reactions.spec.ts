import { describe, expect, test } from 'vitest';
import { groupReactions } from './reactions';

const row = (messageId: string, emoji: string, userId: string, version: number) => ({ messageId, emoji, userId, version });

describe('groupReactions', () => {
	test('orders emojis by when each was first chosen and users by when they chose it, whatever order the rows come in', () => {
		const grouped = groupReactions([
			row('m1', '❤️', 'bob', 4),
			row('m1', '👍', 'alice', 3),
			row('m1', '👍', 'bob', 2),
			row('m1', '❤️', 'alice', 7)
		]);
		expect(grouped.get('m1')).toEqual([
			{ emoji: '👍', userIds: ['bob', 'alice'] },
			{ emoji: '❤️', userIds: ['bob', 'alice'] }
		]);
	});

	test('keeps messages apart and leaves out messages without reactions', () => {
		const grouped = groupReactions([row('m2', '🎉', 'bob', 1), row('m1', '🎉', 'alice', 5)]);
		expect(grouped.get('m1')).toEqual([{ emoji: '🎉', userIds: ['alice'] }]);
		expect(grouped.get('m2')).toEqual([{ emoji: '🎉', userIds: ['bob'] }]);
		expect(grouped.has('m3')).toBe(false);
	});
});
