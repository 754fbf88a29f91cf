// @vitest-environment node
import { describe, expect, it } from 'vitest';
import { watch } from './live-query';
import { freshDb } from './test-db';

const C = '00000000-0000-4000-8000-00000000000c';

/** An observer whose values are taken one at a time, each awaited until it has come. */
function recorder<T>() {
	const seen: T[] = [];
	let read = 0;
	let wake: (() => void) | null = null;
	return {
		seen,
		observer: {
			next(value: T) {
				seen.push(value);
				wake?.();
			}
		},
		async take(): Promise<T> {
			while (read >= seen.length) await new Promise<void>((resolve) => (wake = resolve));
			return seen[read++];
		}
	};
}

describe('watch', () => {
	it('follows a query once Dexie has loaded, and stops when told', async () => {
		const db = freshDb();
		const first = recorder<number>();
		const stop = watch(() => db.drafts.count(), first.observer);
		expect(await first.take()).toBe(0);
		await db.drafts.put({ conversationId: C, body: 'hi', updatedAt: 1 });
		expect(await first.take()).toBe(1);
		stop();
		await db.drafts.delete(C);
		// A second watch hears the delete; the stopped one must not have.
		const second = recorder<number>();
		const other = watch(() => db.drafts.count(), second.observer);
		expect(await second.take()).toBe(0);
		other();
		expect(first.seen).toEqual([0, 1]);
	});

	it('never subscribes when stopped before Dexie arrived', async () => {
		const db = freshDb();
		let runs = 0;
		const query = () => {
			runs++;
			return db.drafts.count();
		};
		watch(query, { next: () => {} })();
		// Both wait for the same import: once the second has its first value, the first had its turn.
		const second = recorder<number>();
		const other = watch(() => db.drafts.count(), second.observer);
		await second.take();
		other();
		expect(runs).toBe(0);
	});
});
