import { describe, expect, it } from 'vitest';
import { receiptFor, receiptRecipients } from './read-privacy';

const reader = 'reader';
const viewer = 'viewer';
const data = { userId: reader, deliveredSeq: 7, readSeq: 5 };

describe('receiptFor', () => {
	it('shows the read position when both have read receipts on', () => {
		expect(
			receiptFor(
				viewer,
				data,
				new Map([
					[viewer, true],
					[reader, true]
				])
			)
		).toEqual(data);
	});

	it('hides it, and keeps delivered, when either has them off', () => {
		const hidden = { ...data, readSeq: 0 };
		expect(
			receiptFor(
				viewer,
				data,
				new Map([
					[viewer, true],
					[reader, false]
				])
			)
		).toEqual(hidden);
		expect(
			receiptFor(
				viewer,
				data,
				new Map([
					[viewer, false],
					[reader, true]
				])
			)
		).toEqual(hidden);
		expect(receiptFor(viewer, data, new Map())).toEqual(hidden);
	});

	it('always gives users their own read position, whatever the settings', () => {
		expect(receiptFor(reader, data, new Map([[reader, false]]))).toEqual(data);
	});
});

describe('receiptRecipients', () => {
	const members = [reader, viewer];
	const before = { userId: reader, deliveredSeq: 7, readSeq: 3 };
	const readOnly = { ...before, readSeq: 5 };
	const delivered = { ...before, deliveredSeq: 9 };

	it('tells both when both have read receipts on', () => {
		expect(
			receiptRecipients(
				members,
				before,
				readOnly,
				new Map([
					[viewer, true],
					[reader, true]
				])
			)
		).toEqual(members);
	});

	it('does not tell the peer that a hidden read position moved, but tells the reader’s own devices', () => {
		expect(
			receiptRecipients(
				members,
				before,
				readOnly,
				new Map([
					[viewer, true],
					[reader, false]
				])
			)
		).toEqual([reader]);
		expect(
			receiptRecipients(
				members,
				before,
				readOnly,
				new Map([
					[viewer, false],
					[reader, true]
				])
			)
		).toEqual([reader]);
	});

	it('still tells the peer about delivery', () => {
		expect(
			receiptRecipients(
				members,
				before,
				delivered,
				new Map([
					[viewer, false],
					[reader, false]
				])
			)
		).toEqual(members);
	});
});
