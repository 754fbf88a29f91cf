import { describe, expect, it } from 'vitest';
import {
	clientFrameSchema,
	editSchema,
	historyQuerySchema,
	MAX_SEQ,
	messageBodySchema,
	messageContentSchema,
	sendOf,
	sendSchema
} from './schemas';

describe('historyQuerySchema', () => {
	const ok = (query: Record<string, string>) => historyQuerySchema.safeParse(query).success;

	it('takes plain decimals inside the int columns, and nothing the database would refuse', () => {
		expect(historyQuerySchema.parse({})).toEqual({ limit: 50 });
		expect(historyQuerySchema.parse({ before: String(MAX_SEQ), after: '0', limit: '200' })).toEqual({
			before: MAX_SEQ,
			after: 0,
			limit: 200
		});
		for (const before of [
			String(MAX_SEQ + 1),
			'99999999999',
			'0',
			'-1',
			'',
			' 1',
			'+1',
			'1.5',
			'1e3',
			'0x10',
			'NaN',
			'Infinity',
			'1e309',
			'01',
			'9'.repeat(400)
		]) {
			expect(ok({ before }), before).toBe(false);
		}
		for (const limit of ['0', '201', '', '50.0']) expect(ok({ limit }), limit).toBe(false);
	});
});

describe('messageBodySchema', () => {
	it('refuses half a surrogate pair, keeps whole pairs, trims', () => {
		for (const body of ['\ud800', 'a\udfff', '\udc00\ud800'])
			expect(messageBodySchema.safeParse(body).success, JSON.stringify(body)).toBe(false);
		expect(messageBodySchema.parse(' \ud83d\ude00 ')).toBe('\ud83d\ude00');
	});
});

describe('sendOf', () => {
	const stored = {
		id: '0b7f4b5e-7c1a-4d3e-9d52-8f1d7a6c2b10',
		conversationId: '1c8e5a2d-3b4f-4e6a-8c9d-0e1f2a3b4c5d',
		clientId: '2d9f6b3e-4c5a-4f7b-9d0e-1f2a3b4c5d6e',
		clientSeq: 7,
		body: 'hello',
		replyTo: null,
		attachments: [],
		senderId: '3e0a7c4f-5d6b-4a8c-8e1f-2a3b4c5d6e7f',
		createdAt: '2026-12-01T12:00:00.000Z',
		status: 'sending'
	};

	it('takes exactly the fields of a send from a stored message, and the server accepts it', () => {
		const send = sendOf(stored);
		expect(Object.keys(send).sort()).toEqual(Object.keys(sendSchema.shape).sort());
		expect(sendSchema.parse(send)).toEqual(send);
	});

	it('carries every content field the sender writes', () => {
		for (const field of Object.keys(messageContentSchema.shape)) expect(Object.keys(sendOf(stored))).toContain(field);
	});
});

describe('a send’s attachments', () => {
	const base = {
		id: '0b7f4b5e-7c1a-4d3e-9d52-8f1d7a6c2b10',
		conversationId: '1c8e5a2d-3b4f-4e6a-8c9d-0e1f2a3b4c5d',
		clientId: '2d9f6b3e-4c5a-4f7b-9d0e-1f2a3b4c5d6e',
		clientSeq: 1
	};
	const ids = Array.from({ length: 11 }, (_, i) => `0b7f4b5e-7c1a-4d3e-9d52-8f1d7a6c2b${String(i).padStart(2, '0')}`);
	const frame = (send: object) => clientFrameSchema.safeParse({ type: 'send', ...send });

	it('default to none; with one the body may be empty, without one it may not', () => {
		expect(sendSchema.parse({ ...base, body: 'hi' }).attachments).toBeUndefined();
		expect(sendSchema.parse({ ...base, body: '  ', attachments: [ids[0]] })).toMatchObject({ body: '', attachments: [ids[0]] });
		expect(sendSchema.safeParse({ ...base, body: ' ' }).success).toBe(false);
		expect(frame({ ...base, body: '', attachments: [ids[0]] }).success).toBe(true);
		expect(frame({ ...base, body: '' }).success).toBe(false);
		// Edits keep their rule: an edit's body is never empty.
		expect(editSchema.safeParse({ body: '' }).success).toBe(false);
	});

	it('at most ten, each once, each a UUID', () => {
		expect(sendSchema.safeParse({ ...base, body: 'x', attachments: ids.slice(0, 10) }).success).toBe(true);
		expect(sendSchema.safeParse({ ...base, body: 'x', attachments: ids }).success).toBe(false);
		expect(sendSchema.safeParse({ ...base, body: 'x', attachments: [ids[0], ids[0].toUpperCase()] }).success).toBe(false);
		expect(sendSchema.safeParse({ ...base, body: 'x', attachments: ['nope'] }).success).toBe(false);
		expect(frame({ ...base, body: 'x', attachments: ids }).success).toBe(false);
	});
});

describe('a change frame', () => {
	it('never carries a preview: only the server adds one, after fetching it itself', () => {
		const messageId = '00000000-0000-4000-8000-000000000001';
		const preview = {
			url: 'https://a.example/',
			title: 'Forged',
			description: null,
			siteName: null,
			imageUrl: 'https://evil.example/x.png'
		};
		const frame = { type: 'change', id: '00000000-0000-4000-8000-000000000002', change: { op: 'preview', messageId, preview } };
		expect(clientFrameSchema.safeParse(frame).success).toBe(false);
		// Nor does an edit smuggle one in: the body is all it takes.
		const edit = clientFrameSchema.parse({ ...frame, change: { op: 'edit', messageId, body: 'x', preview } });
		expect(edit).toEqual({ ...frame, change: { op: 'edit', messageId, body: 'x' } });
	});
});
