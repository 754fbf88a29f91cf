/**
 * The BroadcastChannel between the tabs of one user: followers hand their sends, typing and
 * receipts to the leader; the leader shares connection state and ephemeral events; any tab can
 * announce a sign-out. Dexie's own change events carry everything durable.
 */
import type { ReceiptInput } from '$lib/schemas';
import type { EphemeralEvent } from '$lib/types';
import type { ConnectionState, TransportKind } from './transport';

export type TabMessage =
	| { type: 'outbox' }
	| { type: 'typing'; conversationId: string; typing: boolean }
	| { type: 'receipt'; receipt: ReceiptInput }
	| { type: 'ephemeral'; event: EphemeralEvent }
	| { type: 'connection'; state: ConnectionState; transport?: TransportKind }
	| { type: 'hello' }
	/** How far the leader's upload of a file is (null: over). */
	| { type: 'upload-progress'; id: string; fraction: number | null }
	/** A tab here is signing out: the session's end that follows is this browser's doing. */
	| { type: 'signing-out' }
	/** `elsewhere`: the server ended the session (another device signed it out), not this browser. */
	| { type: 'signout'; elsewhere?: boolean };

export interface TabChannel {
	post(message: TabMessage): void;
	on(listener: (message: TabMessage) => void): () => void;
	close(): void;
}

export function openTabChannel(userId: string): TabChannel {
	const listeners = new Set<(message: TabMessage) => void>();
	const channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel(`duet:${userId}`) : null;
	if (channel) channel.onmessage = (event) => listeners.forEach((l) => l(event.data as TabMessage));
	return {
		post: (message) => channel?.postMessage(message),
		on(listener) {
			listeners.add(listener);
			return () => listeners.delete(listener);
		},
		close: () => channel?.close()
	};
}
