import { describe, expect, test } from 'vitest';
import { AppError } from '$lib/errors';
import { applyChange, linkToPreview, reactionDiff, type MessageState } from './change';

const now = new Date('2026-01-02T03:04:05.000Z');
const sent = new Date('2026-01-01T00:00:00.000Z');

function state(overrides: Partial<MessageState['row']> = {}, reactions: MessageState['reactions'] = []): MessageState {
	return {
		row: {
			id: 'm',
			conversationId: 'c',
			seq: 3,
			senderId: 'alice',
			clientId: 'client',
			clientSeq: 1,
			body: 'hello',
			createdAt: sent,
			replyTo: null,
			editedAt: null,
			deletedAt: null,
			version: 2,
			preview: null,
			...overrides
		},
		reactions
	};
}

const codeOf = (fn: () => unknown) => {
	try {
		fn();
	} catch (error) {
		return (error as AppError).code;
	}
	return 'no error';
};

const preview = (url: string, title = 'T') => ({ url, title, description: null, siteName: null, imageUrl: null });

describe('link previews', () => {
	const linked = (body: string, extra: Partial<MessageState['row']> = {}) => state({ body, ...extra });

	test('a preview of the body’s current link is added as a change; of another link, of a deleted message or the same again, it is nothing', () => {
		const next = applyChange(
			linked('see https://a.example/x'),
			{ op: 'preview', messageId: 'm', preview: preview('https://a.example/x') },
			'alice',
			now
		);
		expect(next?.row).toMatchObject({ preview: preview('https://a.example/x'), version: 3, editedAt: null });
		// The same preview with its keys in another order (as jsonb gives them back) changes nothing.
		const stored = { imageUrl: null, siteName: null, description: null, title: 'T', url: 'https://a.example/x' };
		expect(
			applyChange(
				linked('https://a.example/x', { preview: stored }),
				{ op: 'preview', messageId: 'm', preview: preview('https://a.example/x') },
				'alice',
				now
			)
		).toBeNull();
		expect(
			applyChange(linked('https://b.example/'), { op: 'preview', messageId: 'm', preview: preview('https://a.example/x') }, 'alice', now)
		).toBeNull();
		expect(
			applyChange(linked('', { deletedAt: sent }), { op: 'preview', messageId: 'm', preview: preview('https://a.example/x') }, 'alice', now)
		).toBeNull();
	});

	test('an edit keeps the preview while the link stays, and drops it when the link changes or goes; a delete drops it', () => {
		const withPreview = linked('https://a.example/x', { preview: preview('https://a.example/x') });
		expect(
			applyChange(withPreview, { op: 'edit', messageId: 'm', body: 'now: https://a.example/x#top' }, 'alice', now)?.row.preview
		).toEqual(preview('https://a.example/x'));
		expect(applyChange(withPreview, { op: 'edit', messageId: 'm', body: 'https://b.example/' }, 'alice', now)?.row.preview).toBeNull();
		expect(applyChange(withPreview, { op: 'edit', messageId: 'm', body: 'no link' }, 'alice', now)?.row.preview).toBeNull();
		expect(applyChange(withPreview, { op: 'delete', messageId: 'm' }, 'alice', now)?.row.preview).toBeNull();
		expect(applyChange(withPreview, { op: 'react', messageId: 'm', emoji: '👍' }, 'bob', now)?.row.preview).toEqual(
			preview('https://a.example/x')
		);
	});

	test('a preview is fetched for a new message’s link and for an edit’s new link only', () => {
		expect(linkToPreview(null, 'look: HTTPS://A.example/x#frag')).toBe('https://a.example/x');
		expect(linkToPreview(null, 'no link, `https://in.code.example/`')).toBeNull();
		expect(linkToPreview('https://a.example/x', 'https://a.example/x, again')).toBeNull();
		expect(linkToPreview('https://a.example/x', 'https://b.example/')).toBe('https://b.example/');
		// A delete empties the body.
		expect(linkToPreview('https://a.example/x', '')).toBeNull();
	});
});

describe('applyChange', () => {
	test('an edit by the sender sets the body and editedAt and bumps the version; the same body again is nothing', () => {
		const next = applyChange(state(), { op: 'edit', messageId: 'm', body: 'hi' }, 'alice', now);
		expect(next?.row).toMatchObject({ body: 'hi', editedAt: now, version: 3, deletedAt: null, seq: 3, createdAt: sent });
		expect(applyChange(state(), { op: 'edit', messageId: 'm', body: 'hello' }, 'alice', now)).toBeNull();
	});

	test('edit and delete are the sender’s only; a deleted message takes no edit or reaction, and deleting again is nothing', () => {
		expect(codeOf(() => applyChange(state(), { op: 'edit', messageId: 'm', body: 'x' }, 'bob', now))).toBe('forbidden');
		expect(codeOf(() => applyChange(state(), { op: 'delete', messageId: 'm' }, 'bob', now))).toBe('forbidden');
		const deleted = state({ body: '', deletedAt: sent });
		expect(codeOf(() => applyChange(deleted, { op: 'edit', messageId: 'm', body: 'x' }, 'alice', now))).toBe('conflict');
		expect(codeOf(() => applyChange(deleted, { op: 'react', messageId: 'm', emoji: '👍' }, 'bob', now))).toBe('conflict');
		expect(codeOf(() => applyChange(deleted, { op: 'unreact', messageId: 'm', emoji: '👍' }, 'bob', now))).toBe('conflict');
		expect(applyChange(deleted, { op: 'delete', messageId: 'm' }, 'alice', now)).toBeNull();
		// A member who is not the sender is still refused as one, deleted or not.
		expect(codeOf(() => applyChange(deleted, { op: 'delete', messageId: 'm' }, 'bob', now))).toBe('forbidden');
	});

	test('a delete empties the body and the reactions', () => {
		const next = applyChange(
			state({}, [{ messageId: 'm', emoji: '👍', userId: 'bob', version: 1 }]),
			{ op: 'delete', messageId: 'm' },
			'alice',
			now
		);
		expect(next).toEqual({ row: { ...state().row, body: '', deletedAt: now, version: 3 }, reactions: [] });
	});

	test('reactions: any member adds one at the new version; twice, or removing one not there, is nothing', () => {
		const next = applyChange(state(), { op: 'react', messageId: 'm', emoji: '👍' }, 'bob', now)!;
		expect(next.row.version).toBe(3);
		expect(next.reactions).toEqual([{ messageId: 'm', emoji: '👍', userId: 'bob', version: 3 }]);
		expect(next.row.editedAt).toBeNull();
		expect(applyChange(next, { op: 'react', messageId: 'm', emoji: '👍' }, 'bob', now)).toBeNull();
		expect(applyChange(next, { op: 'unreact', messageId: 'm', emoji: '👍' }, 'alice', now)).toBeNull();
		const removed = applyChange(next, { op: 'unreact', messageId: 'm', emoji: '👍' }, 'bob', now)!;
		expect(removed).toEqual({ row: { ...next.row, version: 4 }, reactions: [] });
	});
});

describe('reactionDiff', () => {
	const r = (emoji: string, userId: string, version: number) => ({ messageId: 'm', emoji, userId, version });
	test('inserts the new, re-versions one removed and chosen again, deletes the gone, leaves the rest', () => {
		const diff = reactionDiff([r('👍', 'a', 1), r('❤️', 'a', 2), r('🎉', 'b', 3)], [r('👍', 'a', 1), r('🎉', 'b', 6), r('😀', 'b', 5)]);
		expect(diff.upserted).toEqual([r('🎉', 'b', 6), r('😀', 'b', 5)]);
		expect(diff.removed).toEqual([r('❤️', 'a', 2)]);
	});
});
