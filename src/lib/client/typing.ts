/** Our own typing, told to the peer: at most once per interval, only for real text, and ended when the text is cleared. */

export const TYPING_EVERY_MS = 2_000;

export interface TypingListener {
	started(conversationId: string): void;
	/** The text was cleared after `started`: the peer should stop showing "typing…" now, not when it expires. */
	stopped(conversationId: string): void;
}

/**
 * `input` is called on every keystroke. `reset` after a send: the message ends the typing by
 * itself, and the next message's first keystroke is announced at once.
 */
export function typingAnnouncer(listener: TypingListener, everyMs = TYPING_EVERY_MS, now: () => number = Date.now) {
	let last = 0;
	/** The conversation the peer was last told we type in, until a stop or a send ends it. */
	let typingIn: string | null = null;
	const reset = () => {
		last = 0;
		typingIn = null;
	};
	return {
		input(conversationId: string, text: string): void {
			if (typingIn !== null && (typingIn !== conversationId || !text.trim())) {
				listener.stopped(typingIn);
				reset();
			}
			if (!text.trim()) return;
			const at = now();
			if (at - last <= everyMs) return;
			last = at;
			typingIn = conversationId;
			listener.started(conversationId);
		},
		reset
	};
}
