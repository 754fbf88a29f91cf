/**
 * Receipts waiting to go out: cumulative, so only the highest seq per conversation and status
 * matters. Whatever could not be sent (no live connection) is kept and flushed on the next one.
 */
import type { ReceiptInput } from '$lib/schemas';

export class ReceiptQueue {
	private pending = new Map<string, ReceiptInput>();

	add(receipt: ReceiptInput): void {
		const key = `${receipt.conversationId}:${receipt.status}`;
		const existing = this.pending.get(key);
		if (!existing || existing.seq < receipt.seq) this.pending.set(key, receipt);
	}

	/** Sends what it can; `send` returns false when the frame could not be written. */
	flush(send: (receipt: ReceiptInput) => boolean): void {
		for (const [key, receipt] of [...this.pending]) {
			// Read implies delivered: a delivered receipt at or below a read one is redundant.
			if (receipt.status === 'delivered') {
				const read = this.pending.get(`${receipt.conversationId}:read`);
				if (read && read.seq >= receipt.seq) {
					this.pending.delete(key);
					continue;
				}
			}
			if (!send(receipt)) return;
			this.pending.delete(key);
		}
	}

	get size(): number {
		return this.pending.size;
	}
}
