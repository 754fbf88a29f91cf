/** Our own typing, announced to the peer: at most once per interval, and only for real text. */

export const TYPING_EVERY_MS = 2_000;

/**
 * `input` is called on every keystroke; `announce` runs when the peer should hear "typing" again.
 * `reset` after a send, so the next message's first keystroke is announced at once.
 */
export function typingAnnouncer(announce: (conversationId: string) => void, everyMs = TYPING_EVERY_MS, now: () => number = Date.now) {
	let last = 0;
	return {
		input(conversationId: string, text: string): void {
			if (!text.trim()) return;
			const at = now();
			if (at - last <= everyMs) return;
			last = at;
			announce(conversationId);
		},
		reset(): void {
			last = 0;
		}
	};
}
