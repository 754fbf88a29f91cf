import { afterEach, describe, expect, test, vi } from 'vitest';
import { AppError } from '$lib/errors';
import { guard, logIfUnexpected } from './guard';
import { log as logger } from './log';

afterEach(() => {
	vi.restoreAllMocks();
});

function logged() {
	return vi.spyOn(logger, 'error').mockImplementation(() => {});
}

describe('guard', () => {
	test('a handler that succeeds is neither logged nor closed', async () => {
		const log = logged();
		const failures: string[] = [];
		guard(
			'a test',
			() => ({ user: 'u1' }),
			() => failures.push('closed'),
			() => 42
		);
		guard(
			'a test',
			() => ({ user: 'u1' }),
			() => failures.push('closed'),
			async () => 42
		);
		await new Promise((resolve) => setImmediate(resolve));
		expect(failures).toEqual([]);
		expect(log).not.toHaveBeenCalled();
	});

	test('a throw is logged as an unexpected error with its context, and closes', () => {
		const log = logged();
		const failures: string[] = [];
		const error = new Error('boom');
		guard(
			'a WebSocket frame',
			() => ({ user: 'u1', frame: 'send', skipped: undefined }),
			() => failures.push('closed'),
			() => {
				throw error;
			}
		);
		expect(failures).toEqual(['closed']);
		expect(log).toHaveBeenCalledWith(
			expect.objectContaining({ err: error, user: 'u1' }),
			'Unexpected error in a WebSocket frame (user=u1 frame=send)'
		);
	});

	test('a rejection is caught (never unhandled), logged with the context as it is then, and closes', async () => {
		const log = logged();
		const unhandled = vi.fn();
		process.on('unhandledRejection', unhandled);
		try {
			const context = { user: 'u1', frame: undefined as string | undefined };
			let closed!: () => void;
			const done = new Promise<void>((resolve) => (closed = resolve));
			guard(
				'a WebSocket frame',
				() => context,
				closed,
				async () => {
					context.frame = 'ping';
					await Promise.resolve();
					throw new Error('later');
				}
			);
			await done;
			await new Promise((resolve) => setImmediate(resolve));
			expect(log.mock.calls[0][1]).toBe('Unexpected error in a WebSocket frame (user=u1 frame=ping)');
			expect(unhandled).not.toHaveBeenCalled();
		} finally {
			process.off('unhandledRejection', unhandled);
		}
	});

	test('a failure while closing, or in the context, is logged too and goes no further', () => {
		const log = logged();
		expect(() =>
			guard(
				'a test',
				() => {
					throw new Error('no context');
				},
				() => {
					throw new Error('close failed');
				},
				() => {
					throw new Error('boom');
				}
			)
		).not.toThrow();
		expect(log.mock.calls.map((call) => call[1])).toEqual([
			'Unexpected error in a test ()',
			'Unexpected error in closing after a failure in a test ()'
		]);
	});
});

describe('logIfUnexpected', () => {
	test('refusals and a database that is down are expected; anything else is logged', () => {
		const log = logged();
		expect(logIfUnexpected('a test', {}, new AppError('unavailable', 'down'))).toBe(false);
		expect(logIfUnexpected('a test', {}, Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }))).toBe(false);
		expect(log).not.toHaveBeenCalled();
		const bug = new TypeError('x is undefined');
		expect(logIfUnexpected('a test', { user: 'u1' }, bug)).toBe(true);
		expect(log).toHaveBeenCalledWith(expect.objectContaining({ err: bug }), 'Unexpected error in a test (user=u1)');
	});
});
