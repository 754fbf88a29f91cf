import { describe, expect, it } from 'vitest';
import { receiptFor } from './read-privacy';

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
