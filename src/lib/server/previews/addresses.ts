/**
 * Which addresses and host names a link preview may reach: public unicast only. Ranges come from
 * ipaddr.js, so that the list of special-purpose blocks is a maintained one rather than ours; the
 * IPv6 forms that carry an IPv4 address (mapped, translated, NAT64, 6to4) are judged by that
 * IPv4 address, since a dual-stack host or a NAT64 gateway would connect to it.
 */
import ipaddr from 'ipaddr.js';

/** Known cloud metadata endpoints. Their ranges are refused anyway; named so a test pins them. */
export const METADATA_ADDRESSES = ['169.254.169.254', 'fd00:ec2::254', '100.100.100.200'];

/** IPv6 ranges whose last 32 bits are an IPv4 address that the packet ends up at. */
const EMBEDS_IPV4 = new Set(['ipv4Mapped', 'rfc6145', 'rfc6052']);

function embeddedIpv4(address: ipaddr.IPv6): ipaddr.IPv4 {
	const [high, low] = address.parts.slice(6);
	return new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff]);
}

/** 2002:AABB:CCDD::/48 routes to the IPv4 address AA.BB.CC.DD. */
function sixToFourIpv4(address: ipaddr.IPv6): ipaddr.IPv4 {
	const [, high, low] = address.parts;
	return new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff]);
}

/**
 * Why an address may not be reached, or null when it is public unicast. Anything that does not
 * parse as an address is refused too: a resolver or a URL that hands back something odd is not
 * given the benefit of the doubt.
 */
export function refusedAddress(text: string): string | null {
	// A zone id (`fe80::1%eth0`) only ever names a link-local address on one of our interfaces.
	if (text.includes('%')) return 'an address with a zone id';
	// Canonical forms only: a resolver answers in them, and `1.2.3` is no answer to trust.
	if (!ipaddr.IPv4.isValidFourPartDecimal(text) && !ipaddr.IPv6.isValid(text)) return 'not an IP address';
	const address = ipaddr.parse(text);
	if (address.kind() === 'ipv6') {
		const v6 = address as ipaddr.IPv6;
		const range = v6.range();
		// 64:ff9b:1::/48 (RFC 8215) is for a network's own NAT64: private, whatever it embeds.
		if (range === 'rfc6052' && v6.parts[2] !== 0) return 'a local-use NAT64 address';
		if (EMBEDS_IPV4.has(range)) return refusedIpv4(embeddedIpv4(v6));
		if (range === '6to4') return refusedIpv4(sixToFourIpv4(v6));
		return range === 'unicast' ? null : `a ${range} IPv6 address`;
	}
	return refusedIpv4(address as ipaddr.IPv4);
}

function refusedIpv4(address: ipaddr.IPv4): string | null {
	const range = address.range();
	return range === 'unicast' ? null : `a ${range} IPv4 address`;
}

/**
 * Names that mean this machine or a private network whatever DNS says (RFC 6761, 6762, 8375 and
 * the clouds' `.internal`), and single-label names, which a resolver may complete with a search
 * domain into an internal host.
 */
const PRIVATE_SUFFIXES = ['.localhost', '.local', '.localdomain', '.internal', '.home.arpa', '.lan', '.intranet'];

export function refusedName(hostname: string): string | null {
	const name = hostname.toLowerCase().replace(/\.$/, '');
	if (name === 'localhost' || PRIVATE_SUFFIXES.some((suffix) => name.endsWith(suffix))) return 'a local host name';
	if (!name.includes('.')) return 'a single-label host name';
	return null;
}

/** The URL's hostname as an IP address (without IPv6 brackets), or null for a DNS name. */
export function literalAddress(hostname: string): string | null {
	const bare = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
	// The WHATWG URL parser has already turned every IPv4 notation (2130706433, 0177.0.0.1, 0x7f.1,
	// 127.1) into dotted decimal, so only the canonical forms reach here from a parsed URL.
	return ipaddr.IPv4.isValidFourPartDecimal(bare) || (bare.includes(':') && ipaddr.IPv6.isValid(bare)) ? bare : null;
}
