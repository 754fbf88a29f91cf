// @vitest-environment node
import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { openUserDb } from './db';
import { draftSaver, loadDraft, watchDraft, type Timers } from './drafts';
import { freshDb } from './test-db';

const C = '00000000-0000-4000-8000-00000000000c';

/** Timers the test fires by hand, recording the delays asked for. */
function manualTimers() {
	const pending = new Map<number, () => void>();
	const delays: number[] = [];
	let next = 0;
	const timers: Timers = {
		set(fn, ms) {
			delays.push(ms);
			pending.set(++next, fn);
			return next;
		},
		clear: (handle) => void pending.delete(handle as number)
	};
	return { timers, delays, pending, fire: () => [...pending.values()].forEach((fn) => fn()) };
}

describe('drafts', () => {
	it('saves only once typing pauses, restores the last text, and survives a new connection', async () => {
		const db = freshDb('draft-user');
		const t = manualTimers();
		const saver = draftSaver(db, C, 300, t.timers);
		saver.update('H');
		saver.update('He');
		saver.update('Hello');
		expect(t.pending.size).toBe(1);
		expect(t.delays).toEqual([300, 300, 300]);
		expect(await loadDraft(db, C)).toBe('');
		t.fire();
		await expect.poll(() => loadDraft(db, C)).toBe('Hello');

		// Another tab, or the page after a reload, opens its own connection and finds it.
		const other = openUserDb('draft-user');
		expect(await loadDraft(other, C)).toBe('Hello');
		other.close();
	});

	it('flush writes at once; clear drops the draft and any save still pending', async () => {
		const db = freshDb();
		const t = manualTimers();
		const saver = draftSaver(db, C, 300, t.timers);
		saver.update('keep me');
		await saver.flush();
		expect(await loadDraft(db, C)).toBe('keep me');
		saver.update('about to send');
		await saver.clear();
		t.fire();
		expect(await loadDraft(db, C)).toBe('');
		expect(await db.drafts.count()).toBe(0);
	});

	it('an emptied box removes the draft instead of storing whitespace', async () => {
		const db = freshDb();
		const saver = draftSaver(db, C, 300, manualTimers().timers);
		saver.update('x');
		await saver.flush();
		saver.update('   ');
		await saver.flush();
		expect(await db.drafts.get(C)).toBeUndefined();
	});

	it('says while typed text is not saved yet, so a tab following the draft leaves it alone', async () => {
		const db = freshDb();
		const t = manualTimers();
		const saver = draftSaver(db, C, 300, t.timers);
		expect(saver.pending).toBe(false);
		saver.update('typing');
		expect(saver.pending).toBe(true);
		// Still newer than the store while the write is on its way, not only until it starts.
		const flushed = saver.flush();
		expect(saver.pending).toBe(true);
		await flushed;
		expect(saver.pending).toBe(false);
		const cleared = saver.clear();
		expect(saver.pending).toBe(true);
		await cleared;
		expect(saver.pending).toBe(false);
	});

	it('watchDraft reports the stored draft, then every change to it, until stopped', async () => {
		const db = freshDb();
		const seen: string[] = [];
		let notify = () => {};
		const next = (count: number) =>
			new Promise<void>((resolve) => {
				notify = () => seen.length >= count && resolve();
				notify();
			});
		const stop = watchDraft(db, C, (body) => {
			seen.push(body);
			notify();
		});
		await next(1);
		await db.drafts.put({ conversationId: C, body: 'from the other tab', updatedAt: 1 });
		await next(2);
		await db.drafts.delete(C);
		await next(3);
		expect(seen).toEqual(['', 'from the other tab', '']);
		stop();
		// A second watcher hearing the next change is the moment the first would have heard it too.
		let heard = () => {};
		const later = new Promise<void>((resolve) => (heard = resolve));
		const stopLater = watchDraft(db, C, (body) => body === 'after stopping' && heard());
		await db.drafts.put({ conversationId: C, body: 'after stopping', updatedAt: 2 });
		await later;
		stopLater();
		expect(seen).toHaveLength(3);
	});
});
