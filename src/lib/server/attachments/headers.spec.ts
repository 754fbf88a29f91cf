import { describe, expect, test } from 'vitest';
import { cleanName, contentDisposition, parseRange } from './headers';

describe('contentDisposition', () => {
	test('inline only for the four raster types', () => {
		for (const type of ['image/png', 'image/jpeg', 'image/gif', 'image/webp']) expect(contentDisposition(type, 'a.png')).toBe('inline');
		for (const type of ['image/svg+xml', 'text/html', 'application/pdf', 'application/octet-stream']) {
			expect(contentDisposition(type, 'x')).toMatch(/^attachment; /);
		}
	});

	test('the name cannot break out of the header, and survives as UTF-8', () => {
		const header = contentDisposition('text/html', 'a"; filename=evil.html\r\nx: y ünï*(\').txt');
		expect(header).not.toMatch(/[\r\n]/);
		expect(header).toMatch(/^attachment; filename="[A-Za-z0-9 ._-]+"; filename\*=UTF-8''[A-Za-z0-9%._~-]+$/);
		expect(decodeURIComponent(header.split("UTF-8''")[1])).toBe('a"; filename=evil.html\r\nx: y ünï*(\').txt');
	});
});

describe('parseRange', () => {
	test.each([
		['bytes=0-9', { start: 0, end: 9 }],
		['bytes=10-', { start: 10, end: 99 }],
		['bytes=-10', { start: 90, end: 99 }],
		['bytes=-1000', { start: 0, end: 99 }],
		['bytes=95-1000', { start: 95, end: 99 }],
		['bytes=99-99', { start: 99, end: 99 }]
	])('%s of 100 bytes', (header, range) => expect(parseRange(header, 100)).toEqual(range));

	test.each(['bytes=100-', 'bytes=100-200', 'bytes=-0'])('%s of 100 bytes is unsatisfiable', (header) =>
		expect(parseRange(header, 100)).toBe('unsatisfiable')
	);

	test.each([undefined, '', 'bytes=', 'bytes=-', 'bytes=5-2', 'items=0-1', 'bytes=0-1,5-6', 'bytes=a-b', 'bytes=0-1x'])(
		'%s is the whole file',
		(header) => expect(parseRange(header, 100)).toBeNull()
	);
});

describe('cleanName', () => {
	test('keeps the last path segment, drops control characters, never empty', () => {
		expect(cleanName('C:\\Users\\me\\photo.jpg')).toBe('photo.jpg');
		expect(cleanName('../../etc/passwd')).toBe('passwd');
		expect(cleanName('a\u0000b\nc.txt')).toBe('abc.txt');
		expect(cleanName('')).toBe('file');
		expect(cleanName(undefined)).toBe('file');
		expect(cleanName('\ud800x')).toBe('\ufffdx');
		expect([...cleanName('é'.repeat(400))].length).toBe(255);
	});
});
