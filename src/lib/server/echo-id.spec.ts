import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { echoedId, MAX_ECHOED_ID_LENGTH } from './echo-id';

describe('echoedId', () => {
	test('echoes a UUID and short ids of plain characters', () => {
		const uuid = randomUUID();
		expect(echoedId({ id: uuid })).toBe(uuid);
		expect(echoedId({ id: 'a' })).toBe('a');
		expect(echoedId({ id: 'msg_1.2:3-x' })).toBe('msg_1.2:3-x');
		expect(echoedId({ id: 'x'.repeat(MAX_ECHOED_ID_LENGTH) })).toBe('x'.repeat(MAX_ECHOED_ID_LENGTH));
	});

	test('omits an id one character too long, and any longer', () => {
		expect(echoedId({ id: 'x'.repeat(MAX_ECHOED_ID_LENGTH + 1) })).toBeUndefined();
		expect(echoedId({ id: 'x'.repeat(64 * 1024) })).toBeUndefined();
	});

	test('omits ids that are empty, not strings, or carry anything but plain characters', () => {
		for (const id of ['', ' ', 'a b', '<script>', 'a\nb', 'é', '😀', 'a"b', 'a/b', '\u0000', 42, null, true, {}, ['a']]) {
			expect(echoedId({ id }), JSON.stringify(id)).toBeUndefined();
		}
	});

	test('omits the id of anything that is not an object', () => {
		for (const frame of [null, undefined, 'id', 42, ['id']]) expect(echoedId(frame)).toBeUndefined();
	});

	test('whatever the frame, the echo is at most 64 characters and is exactly the id sent', () => {
		fc.assert(
			fc.property(fc.anything(), fc.string({ maxLength: 200 }), (other, id) => {
				for (const frame of [other, { id }, { id: other }]) {
					const echoed = echoedId(frame);
					if (echoed === undefined) continue;
					expect(echoed.length).toBeLessThanOrEqual(MAX_ECHOED_ID_LENGTH);
					expect(echoed).toBe((frame as { id: unknown }).id);
				}
			})
		);
	});
});
