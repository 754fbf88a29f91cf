// @vitest-environment node
import { describe, expect, it } from 'vitest';
import type { ReceiptInput } from '$lib/schemas';
import { ReceiptQueue } from './receipts';

describe('ReceiptQueue', () => {
	it('keeps the highest seq per conversation and status and drops delivered covered by read', () => {
		const q = new ReceiptQueue();
		q.add({ conversationId: 'a', seq: 3, status: 'delivered' });
		q.add({ conversationId: 'a', seq: 5, status: 'delivered' });
		q.add({ conversationId: 'a', seq: 4, status: 'delivered' });
		q.add({ conversationId: 'b', seq: 2, status: 'delivered' });
		q.add({ conversationId: 'b', seq: 2, status: 'read' });
		const sent: ReceiptInput[] = [];
		q.flush((r) => (sent.push(r), true));
		expect(sent).toEqual([
			{ conversationId: 'a', seq: 5, status: 'delivered' },
			{ conversationId: 'b', seq: 2, status: 'read' }
		]);
		expect(q.size).toBe(0);
	});

	it('keeps what could not be sent for the next connection', () => {
		const q = new ReceiptQueue();
		q.add({ conversationId: 'a', seq: 1, status: 'read' });
		q.flush(() => false);
		expect(q.size).toBe(1);
		const sent: ReceiptInput[] = [];
		q.flush((r) => (sent.push(r), true));
		expect(sent).toHaveLength(1);
	});
});
