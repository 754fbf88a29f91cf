/**
 * Secrets handed to a person once (invite codes, password reset tokens): 120 random bits as
 * base32, of which the database keeps only SHA-256, so a leaked table holds nothing usable.
 */
import { sha256 } from '@oslojs/crypto/sha2';
import { encodeBase32LowerCaseNoPadding } from '@oslojs/encoding';

export function newToken(): string {
	return encodeBase32LowerCaseNoPadding(crypto.getRandomValues(new Uint8Array(15)));
}

/** Codes are typed or pasted by people: case and surrounding spaces do not matter. */
export function tokenHash(token: string): Uint8Array {
	return sha256(new TextEncoder().encode(token.trim().toLowerCase()));
}
