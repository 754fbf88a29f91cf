/**
 * How the sessions list names a device and a place: the User-Agent in plain words ("Chrome on
 * Windows") and the client address coarsened to its network, since there is no GeoIP database here.
 */
import Bowser from 'bowser';
import ipaddr from 'ipaddr.js';

/** Enough for any real browser's User-Agent; the rest of a longer one only costs storage. */
export const MAX_USER_AGENT_CHARS = 512;

export function storedUserAgent(header: string | null | undefined): string | null {
	const value = header?.trim();
	return value ? value.slice(0, MAX_USER_AGENT_CHARS) : null;
}

/** iOS is named for the hardware, since people know their iPhone better than their OS. */
function systemName(os: string | undefined, model: string | undefined): string | undefined {
	if (os === 'iOS' && (model === 'iPhone' || model === 'iPad' || model === 'iPod')) return model;
	return os;
}

export function describeDevice(userAgent: string | null | undefined): string {
	if (!userAgent) return 'Unknown device';
	const parsed = Bowser.parse(userAgent);
	const browser = parsed.browser.name || undefined;
	const system = systemName(parsed.os.name || undefined, parsed.platform.model);
	if (browser && system) return `${browser} on ${system}`;
	if (browser) return browser;
	if (system) return `A browser on ${system}`;
	return 'Unknown device';
}

/**
 * IPv4 to its /24 ("203.0.113.x"), IPv6 to its /48 ("2001:db8:1::/48"): enough to tell home from
 * abroad at a glance, and no more of the address than that on the wire.
 */
export function coarseAddress(address: string | null | undefined): string | null {
	if (!address || !ipaddr.isValid(address)) return null;
	const parsed = ipaddr.process(address);
	if (parsed.kind() === 'ipv4') {
		const [a, b, c] = (parsed as ipaddr.IPv4).octets;
		return `${a}.${b}.${c}.x`;
	}
	const parts = (parsed as ipaddr.IPv6).parts.slice(0, 3);
	const network = new ipaddr.IPv6([...parts, 0, 0, 0, 0, 0]);
	return `${network.toString()}/48`;
}
