import { afterEach, describe, expect, test, vi } from 'vitest';
import { createPostgresDatabase } from '../../../tests/integration/harness';
import { InProcessBus, type EventBus, type Note } from './bus';
import { log } from './log';

const note = (userId: string, seq: number): Note => ({ kind: 'event', userId, seq });

describe('InProcessBus.onPublished', () => {
	afterEach(() => vi.restoreAllMocks());

	test('sees each published batch once, after its listeners had it', async () => {
		const bus = new InProcessBus();
		const order: string[] = [];
		bus.subscribe('u1', (n) => order.push(`listener ${n.kind === 'event' ? n.seq : ''}`));
		bus.onPublished((notes) => order.push(`published ${notes.length}`));
		bus.publish([note('u1', 1), note('u2', 2)]);
		expect(order).toEqual(['listener 1', 'published 2']);
		await bus.close();
	});

	test('a failing handler is logged and costs neither the other handlers nor the publisher', async () => {
		const bus = new InProcessBus();
		const logged = vi.spyOn(log, 'error').mockImplementation(() => {});
		const seen: Note[][] = [];
		bus.onPublished(() => {
			throw new Error('boom');
		});
		bus.onPublished((notes) => seen.push(notes));
		expect(() => bus.publish([note('u1', 1)])).not.toThrow();
		expect(seen).toEqual([[note('u1', 1)]]);
		expect(logged).toHaveBeenCalledOnce();
		await bus.close();
	});
});

describe.skipIf(!process.env.TEST_DATABASE_URL)('PostgresBus.onPublished', () => {
	test('sees what this instance publishes, never what other instances relay to it', async () => {
		const { PostgresBus } = await import('./bus-postgres');
		const url = await createPostgresDatabase();
		const here = await PostgresBus.start(url);
		const there = await PostgresBus.start(url);
		const buses: EventBus[] = [here, there];
		try {
			const publishedHere: Note[] = [];
			here.onPublished((notes) => publishedHere.push(...notes));
			const relayed = new Promise<Note>((resolve) => here.subscribe('u1', resolve));
			there.publish([note('u1', 7)]);
			// Delivered here through LISTEN, as a hint of the other instance's commit: not ours to push.
			expect(await relayed).toEqual(note('u1', 7));
			expect(publishedHere).toEqual([]);
			here.publish([note('u2', 8)]);
			expect(publishedHere).toEqual([note('u2', 8)]);
		} finally {
			await Promise.all(buses.map((bus) => bus.close()));
		}
	});
});
