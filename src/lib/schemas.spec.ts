import { describe, expect, it } from 'vitest';
import { historyQuerySchema, MAX_SEQ, messageBodySchema } from './schemas';

describe('historyQuerySchema', () => {
	const ok = (query: Record<string, string>) => historyQuerySchema.safeParse(query).success;

	it('takes plain decimals inside the int columns, and nothing the database would refuse', () => {
		expect(historyQuerySchema.parse({})).toEqual({ limit: 50 });
		expect(historyQuerySchema.parse({ before: String(MAX_SEQ), after: '0', limit: '200' })).toEqual({
			before: MAX_SEQ,
			after: 0,
			limit: 200
		});
		for (const before of [
			String(MAX_SEQ + 1),
			'99999999999',
			'0',
			'-1',
			'',
			' 1',
			'+1',
			'1.5',
			'1e3',
			'0x10',
			'NaN',
			'Infinity',
			'1e309',
			'01',
			'9'.repeat(400)
		]) {
			expect(ok({ before }), before).toBe(false);
		}
		for (const limit of ['0', '201', '', '50.0']) expect(ok({ limit }), limit).toBe(false);
	});
});

describe('messageBodySchema', () => {
	it('refuses half a surrogate pair, keeps whole pairs, trims', () => {
		for (const body of ['\ud800', 'a\udfff', '\udc00\ud800'])
			expect(messageBodySchema.safeParse(body).success, JSON.stringify(body)).toBe(false);
		expect(messageBodySchema.parse(' \ud83d\ude00 ')).toBe('\ud83d\ude00');
	});
});
