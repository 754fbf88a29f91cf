// http_ece (web-push's own encryption library) ships no types; the test uses decrypt only.
declare module 'http_ece' {
	import type { ECDH } from 'node:crypto';
	export function decrypt(buffer: Buffer, params: { version: 'aes128gcm'; privateKey: ECDH; authSecret: Buffer }): Buffer;
	const ece: { decrypt: typeof decrypt };
	export default ece;
}
