/**
 * The checker judges every fault test, so it must itself fail on what it claims to catch; these
 * cases feed it stored messages directly, without a server.
 */
import { describe, expect, test } from 'vitest';
import { checkChanges, checkStored, checkStreamVersions, checkWholeLog, type ClientRecord } from './checker';

function message(seq: number, id: string, clientId: string, clientSeq: number, senderId = `user-of-${clientId}`) {
	return { id, conversationId: 'c', seq, senderId, clientId, clientSeq, body: id, createdAt: '2026-01-01T00:00:00.000Z' };
}

function records(): ClientRecord[] {
	return [
		{ clientId: 'A', acked: new Map([['a1', 1]]), attempted: new Set(['a1', 'a2']) },
		{ clientId: 'B', acked: new Map([['b1', 2]]), attempted: new Set(['b1']) }
	];
}

const consistent = [message(1, 'a1', 'A', 1), message(2, 'b1', 'B', 1), message(3, 'a2', 'A', 2)];

describe('checkStored', () => {
	test('accepts what the clients sent, un-acked sends included', () => {
		const { byClient } = checkStored(consistent, records());
		expect(byClient.get('A')).toEqual([1, 2]);
	});

	test('fails on a message under a client id that the client never sent', () => {
		const stored = [...consistent, message(4, 'invented', 'A', 3)];
		expect(() => checkStored(stored, records())).toThrow(/stored invented was sent by client A/);
	});

	test('fails on a message from a client no record accounts for', () => {
		const stored = [...consistent, message(4, 'stranger', 'Z', 1)];
		expect(() => checkStored(stored, records())).toThrow(/stored stranger was sent by client Z/);
	});

	test("fails on one client's send stored under another client", () => {
		const stored = [message(1, 'a1', 'A', 1), message(2, 'b1', 'B', 1), message(3, 'a2', 'B', 2)];
		expect(() => checkStored(stored, records())).toThrow(/stored a2 was sent by client B/);
	});

	test("fails on one client's sends stored under two users", () => {
		const stored = [message(1, 'a1', 'A', 1), message(2, 'b1', 'B', 1), message(3, 'a2', 'A', 2, 'someone-else')];
		expect(() => checkStored(stored, records())).toThrow(/client A sends as one user/);
	});

	test('fails on a seq gap, a duplicate id, or an ack the store contradicts', () => {
		expect(() => checkStored([message(1, 'a1', 'A', 1), message(3, 'b1', 'B', 1)], records())).toThrow(/gapless/);
		expect(() => checkStored([...consistent, message(4, 'a2', 'A', 2)], records())).toThrow(/no duplicate ids/);
		expect(() => checkStored([message(1, 'b1', 'B', 1), message(2, 'a1', 'A', 1)], records())).toThrow(/acked a1/);
	});
});

describe('the change checks under the replay rule (every logged event shows the message as it now is)', () => {
	const base = {
		id: 'm',
		conversationId: 'c',
		seq: 1,
		senderId: 'alice',
		clientId: 'A',
		clientSeq: 1,
		createdAt: '2026-01-01T00:00:00.000Z',
		replyTo: null,
		body: 'hi',
		editedAt: null,
		deletedAt: null,
		reactions: [] as any[],
		attachments: [],
		version: 0
	};
	const original = { ...base };
	const v1 = { ...base, reactions: [{ emoji: '👍', userIds: ['bob'] }], version: 1 };
	const v2 = { ...base, body: 'edited', editedAt: '2026-01-01T00:00:01.000Z', reactions: v1.reactions, version: 2 };
	const finals = new Map([['m', v2]]);
	const originals = new Map([['m', original]]);
	const react = { userId: 'bob', change: { op: 'react' as const, messageId: 'm', emoji: '👍' }, acked: v1, sentAt: 1, settledAt: 2 };
	const edit = { userId: 'alice', change: { op: 'edit' as const, messageId: 'm', body: 'edited' }, acked: v2, sentAt: 3, settledAt: 4 };
	// A replay: both events of the log render the message as it now is.
	const replay = [
		{ type: 'message', cursor: '1', message: v2 },
		{ type: 'message_updated', cursor: '2', message: v2 },
		{ type: 'message_updated', cursor: '3', message: v2 }
	];

	test('accepts a replay that repeats the final state, and answers that account for it', () => {
		checkWholeLog(replay, finals);
		expect(checkChanges({ finals, originals, changes: [react, edit] })).toEqual({ held: 2, excused: 0 });
		// A live stream that read the log mid-way: v1, then v2 twice.
		const live = [replay[0], { ...replay[1], message: v1 }, replay[2]].slice(1);
		checkStreamVersions(live, finals);
	});

	test('fails on an event lost, an event doubled, or a log read short of the final state', () => {
		expect(() => checkWholeLog(replay.slice(0, 2), finals)).toThrow(/one message_updated per effective change/);
		expect(() => checkWholeLog([...replay, { ...replay[2], cursor: '4' }], finals)).toThrow(/one message_updated per effective change/);
		expect(() => checkWholeLog([...replay, replay[2]], finals)).toThrow(/no event twice/);
		expect(() =>
			checkWholeLog(
				replay.map((e) => ({ ...e, message: v1 })),
				finals
			)
		).toThrow(/last event of m is its final state/);
	});

	test('fails on a version that falls, one past the final state, or the final version shown otherwise', () => {
		expect(() =>
			checkStreamVersions(
				[
					{ type: 'message_updated', message: v2 },
					{ type: 'message_updated', message: v1 }
				],
				finals
			)
		).toThrow(/never fall/);
		expect(() => checkStreamVersions([{ type: 'message_updated', message: { ...v2, version: 3 } }], finals)).toThrow(/never newer/);
		expect(() => checkStreamVersions([{ type: 'message_updated', message: { ...v2, body: 'other' } }], finals)).toThrow(
			/is the final state/
		);
	});

	test('fails on an acknowledged change missing from the final state, unless a change that may come after it could undo it', () => {
		// Two versions on (no answer at v3), so the missing step does not fail first.
		const gone = new Map([['m', { ...v2, reactions: [], version: 4 }]]);
		const unreact = { userId: 'bob', change: { op: 'unreact' as const, messageId: 'm', emoji: '👍' }, sentAt: 5 };
		// The unreact, sent after the react was acknowledged, explains it; settled before it was sent, it cannot.
		expect(() => checkChanges({ finals: gone, originals, changes: [react, edit] })).toThrow(/react.*holds in the final state/);
		expect(checkChanges({ finals: gone, originals, changes: [react, edit, unreact] })).toEqual({ held: 1, excused: 1 });
		const early = { ...unreact, sentAt: 0, settledAt: 0.5 };
		expect(() => checkChanges({ finals: gone, originals, changes: [react, edit, early] })).toThrow(/react.*holds in the final state/);
		// Acknowledged at a lower version: it committed before, so it cannot have undone the react either.
		const lower = { ...unreact, acked: original, settledAt: 6 };
		expect(() => checkChanges({ finals: gone, originals, changes: [react, edit, lower] })).toThrow(/react.*holds in the final state/);
	});

	test('fails on answers that disagree at one version, one ahead of the final state, or a step nobody attempted', () => {
		const other = { ...react, userId: 'carol', acked: { ...v1, reactions: [{ emoji: '👍', userIds: ['carol'] }] } };
		expect(() => checkChanges({ finals, originals, changes: [react, edit, other] })).toThrow(/is the message at v1/);
		const ahead = { ...edit, acked: { ...v2, version: 3 } };
		expect(() => checkChanges({ finals, originals, changes: [react, ahead] })).toThrow(/never ahead of the final state/);
		expect(() => checkChanges({ finals, originals, changes: [edit] })).toThrow(/👍 by bob was attempted/);
	});
});
