// @vitest-environment node
import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { OUTBOX_SYNC_PREFIX } from '$lib/pwa-protocol';
import { registerOutboxSync } from './background-sync';
import { enqueueMessage } from './outbox';
import { freshDb } from './test-db';

const C = '00000000-0000-4000-8000-00000000000c';

async function until(check: () => boolean) {
	for (let i = 0; i < 100 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
}

describe('background sync registration', () => {
	it('registers the user’s tag once something is queued, and stops when unsubscribed', async () => {
		const db = freshDb();
		const tags: string[] = [];
		const stop = registerOutboxSync(db, 'u1', async (tag) => void tags.push(tag));
		await new Promise((r) => setTimeout(r, 50));
		expect(tags).toEqual([]);
		await enqueueMessage(db, { conversationId: C, senderId: 'u1', body: 'hi' });
		await until(() => tags.length > 0);
		expect(tags[0]).toBe(`${OUTBOX_SYNC_PREFIX}u1`);
		stop();
		const seen = tags.length;
		await enqueueMessage(db, { conversationId: C, senderId: 'u1', body: 'again' });
		await new Promise((r) => setTimeout(r, 50));
		expect(tags.length).toBe(seen);
	});
});
