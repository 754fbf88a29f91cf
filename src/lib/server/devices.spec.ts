import { describe, expect, it } from 'vitest';
import { coarseAddress, describeDevice, MAX_USER_AGENT_CHARS, storedUserAgent } from './devices';

const CHROME_WINDOWS = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36';
const SAFARI_IPHONE =
	'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1';
const SAFARI_IPAD =
	'Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1';
const FIREFOX_ANDROID = 'Mozilla/5.0 (Android 14; Mobile; rv:120.0) Gecko/120.0 Firefox/120.0';
const SAFARI_MAC = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15';
const EDGE_WINDOWS = `${CHROME_WINDOWS} Edg/120.0.0.0`;

describe('describeDevice', () => {
	it('names the browser and the system in plain words', () => {
		expect(describeDevice(CHROME_WINDOWS)).toBe('Chrome on Windows');
		expect(describeDevice(FIREFOX_ANDROID)).toBe('Firefox on Android');
		expect(describeDevice(SAFARI_MAC)).toBe('Safari on macOS');
		expect(describeDevice(EDGE_WINDOWS)).toBe('Microsoft Edge on Windows');
	});

	it('names iOS devices for their hardware', () => {
		expect(describeDevice(SAFARI_IPHONE)).toBe('Safari on iPhone');
		expect(describeDevice(SAFARI_IPAD)).toBe('Safari on iPad');
	});

	it('says so when nothing is known', () => {
		expect(describeDevice(null)).toBe('Unknown device');
		expect(describeDevice('')).toBe('Unknown device');
		expect(describeDevice('curl/8.0')).toBe('Unknown device');
		expect(describeDevice('\u0000\u{1F600}'.repeat(100))).toBe('Unknown device');
	});
});

describe('storedUserAgent', () => {
	it('keeps at most MAX_USER_AGENT_CHARS and stores nothing for an empty header', () => {
		expect(storedUserAgent('x'.repeat(MAX_USER_AGENT_CHARS + 50))).toHaveLength(MAX_USER_AGENT_CHARS);
		expect(storedUserAgent('  ')).toBeNull();
		expect(storedUserAgent(undefined)).toBeNull();
		expect(storedUserAgent(` ${CHROME_WINDOWS} `)).toBe(CHROME_WINDOWS);
	});
});

describe('coarseAddress', () => {
	it('keeps an IPv4 address to its /24', () => {
		expect(coarseAddress('203.0.113.77')).toBe('203.0.113.x');
		expect(coarseAddress('::ffff:198.51.100.9')).toBe('198.51.100.x');
	});

	it('keeps an IPv6 address to its /48', () => {
		expect(coarseAddress('2001:db8:1:2:3:4:5:6')).toBe('2001:db8:1::/48');
		expect(coarseAddress('::1')).toBe('::/48');
	});

	it('gives nothing for what is not an address', () => {
		expect(coarseAddress('unknown')).toBeNull();
		expect(coarseAddress('')).toBeNull();
		expect(coarseAddress(null)).toBeNull();
		expect(coarseAddress('999.1.1.1')).toBeNull();
	});
});
