import { describe, expect, it } from 'vitest';
import type { MessageChange } from '$lib/schemas';
import type { PendingChange } from './db';
import { byMessage, react, withPending } from './pending';

const M = 'm';
const base = { body: 'hello', editedAt: null, deletedAt: null, reactions: [{ emoji: '👍', userIds: ['peer'] }] };
let order = 0;
const change = (c: MessageChange, state: PendingChange['state'] = 'queued'): PendingChange => ({
	id: `c${++order}`,
	order,
	messageId: c.messageId,
	conversationId: 'c',
	change: c,
	state,
	attempts: 0,
	nextAttemptAt: 0
});
const now = () => 'NOW';

describe('withPending', () => {
	it('is the message itself when nothing is pending', () => {
		expect(withPending(base, [], 'me', now)).toEqual({ ...base, changePending: false });
	});

	it('an edit away from the previewed link hides the card until the server answers; one that keeps it keeps it', () => {
		const preview = { url: 'https://a.example/', title: 'A', description: null, siteName: null, imageUrl: null };
		const linked = { ...base, body: 'see https://a.example', preview };
		expect(withPending(linked, [change({ op: 'edit', messageId: M, body: 'no link now' })], 'me', now).preview).toBeNull();
		expect(withPending(linked, [change({ op: 'edit', messageId: M, body: 'still https://a.example' })], 'me', now).preview).toEqual(
			preview
		);
		expect(withPending(linked, [change({ op: 'react', messageId: M, emoji: '🎉' })], 'me', now).preview).toEqual(preview);
	});

	it('applies edits, reactions and a delete in the order they were made', () => {
		const shown = withPending(
			base,
			[
				change({ op: 'edit', messageId: M, body: 'one' }),
				change({ op: 'react', messageId: M, emoji: '👍' }),
				change({ op: 'react', messageId: M, emoji: '🎉' }),
				change({ op: 'unreact', messageId: M, emoji: '🎉' })
			],
			'me',
			now
		);
		expect(shown).toEqual({
			body: 'one',
			editedAt: 'NOW',
			deletedAt: null,
			reactions: [{ emoji: '👍', userIds: ['peer', 'me'] }],
			changePending: true
		});
		const deleted = withPending(
			shown,
			[change({ op: 'delete', messageId: M }), change({ op: 'edit', messageId: M, body: 'late' })],
			'me',
			now
		);
		expect([deleted.body, deleted.deletedAt, deleted.reactions]).toEqual(['', 'NOW', []]);
	});

	it('leaves a failed change out: it is shown rolled back', () => {
		const shown = withPending(base, [change({ op: 'edit', messageId: M, body: 'refused' }, 'failed')], 'me', now);
		expect(shown).toEqual({ ...base, changePending: false });
	});
});

describe('react', () => {
	it('adds once, removes only the user’s own, drops an emoji nobody chose any more, and appends a new one', () => {
		const one = [{ emoji: '👍', userIds: ['peer'] }];
		expect(react(one, '👍', 'peer', true)).toEqual(one);
		expect(react(one, '👍', 'me', false)).toEqual(one);
		expect(react(one, '👍', 'peer', false)).toEqual([]);
		expect(react(one, '❤️', 'me', true)).toEqual([...one, { emoji: '❤️', userIds: ['me'] }]);
	});
});

describe('byMessage', () => {
	it('groups by message, each group in write order', () => {
		const a2 = change({ op: 'edit', messageId: 'a', body: '2' });
		const b1 = change({ op: 'delete', messageId: 'b' });
		const a1 = { ...change({ op: 'edit', messageId: 'a', body: '1' }), order: 0 };
		expect(byMessage([a2, b1, a1])).toEqual(
			new Map([
				['a', [a1, a2]],
				['b', [b1]]
			])
		);
	});
});
