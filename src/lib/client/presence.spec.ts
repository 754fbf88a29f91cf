// @vitest-environment node
import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { presenceLost } from './presence';
import { freshDb } from './test-db';

describe('presence once the connection is lost', () => {
	it('turns whoever was online into last seen then, and leaves what was already known alone', async () => {
		const db = freshDb();
		const earlier = '2026-01-01T10:00:00.000Z';
		await db.presence.bulkPut([
			{ userId: 'here', online: true, lastSeenAt: null },
			{ userId: 'gone', online: false, lastSeenAt: earlier }
		]);
		const lost = Date.parse('2026-01-02T12:30:00.000Z');
		await presenceLost(db, lost);
		expect(await db.presence.get('here')).toEqual({ userId: 'here', online: false, lastSeenAt: new Date(lost).toISOString() });
		expect(await db.presence.get('gone')).toEqual({ userId: 'gone', online: false, lastSeenAt: earlier });
	});
});
