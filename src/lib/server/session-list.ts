/**
 * The caller's sessions as the sessions list shows them. The wire id is a hash of the session's
 * id: the real one is half of the cookie token and must not leave the server.
 */
import { sha256 } from '@oslojs/crypto/sha2';
import { encodeBase32LowerCaseNoPadding } from '@oslojs/encoding';
import type { SessionInfo } from '$lib/types';
import { coarseAddress, describeDevice } from './devices';
import type { SessionRecord } from './session';

export function publicSessionId(sessionId: string): string {
	return encodeBase32LowerCaseNoPadding(sha256(new TextEncoder().encode(`session:${sessionId}`))).slice(0, 26);
}

/** The current session first, then the most recently active. */
export function sessionList(records: SessionRecord[], currentId: string): SessionInfo[] {
	return records
		.map((r) => ({ record: r, current: r.id === currentId }))
		.sort((a, b) => Number(b.current) - Number(a.current) || b.record.lastVerifiedAt.getTime() - a.record.lastVerifiedAt.getTime())
		.map(({ record, current }) => ({
			id: publicSessionId(record.id),
			current,
			createdAt: record.createdAt.toISOString(),
			lastActiveAt: record.lastVerifiedAt.toISOString(),
			userAgent: record.userAgent,
			device: describeDevice(record.userAgent),
			location: coarseAddress(record.address)
		}));
}

/** The session's own id for a wire id, among the user's sessions; undefined when not theirs. */
export function findSession(records: SessionRecord[], publicId: string): SessionRecord | undefined {
	return records.find((r) => publicSessionId(r.id) === publicId);
}
