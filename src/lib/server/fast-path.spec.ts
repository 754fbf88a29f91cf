import { describe, expect, test } from 'vitest';
import { badApiPath } from './fast-path';

describe('badApiPath', () => {
	test('a . or .. segment of an /api path, raw or percent-encoded in either case, is a bad_request', () => {
		for (const segment of ['.', '..', '%2e', '%2E', '%2e%2e', '%2E%2E', '.%2e', '%2E.']) {
			for (const url of [`/api/messages/x/reactions/${segment}`, `/api/${segment}/messages`, `/api/messages/${segment}/reactions/y?q=1`]) {
				expect(badApiPath(url)?.code, url).toBe('bad_request');
			}
		}
		expect(badApiPath('/%61pi/messages/x/..')?.code).toBe('bad_request');
	});

	test('a path that cannot be decoded is a bad_request under /api only', () => {
		expect(badApiPath('/api/messages/%ZZ')?.code).toBe('bad_request');
		expect(badApiPath('/api/messages/x/reactions/%F0%9F%91')?.code).toBe('bad_request');
		expect(badApiPath('/%61pi/messages/%ZZ')?.code).toBe('bad_request');
		expect(badApiPath('/chat/%ZZ')).toBeNull();
	});

	test('anything else passes: lookalikes of dots, other paths, the query', () => {
		for (const url of [
			'/api/messages',
			'/api/messages/x/reactions/%F0%9F%91%8D',
			'/api/messages/x/reactions/...',
			'/api/messages/x/reactions/%252e',
			'/api/messages/x/reactions/.a',
			'/api/messages/x/reactions/%2F',
			'/api/events?cursor=..',
			'/chat/..',
			'/api',
			'/apix/..'
		]) {
			expect(badApiPath(url), url).toBeNull();
		}
	});
});
