/**
 * Who is typing to us, per conversation, as runes for the UI. A typing event shows the indicator
 * for a while; another one extends it, and a message from the peer (or the leader saying one
 * arrived) ends it at once, since the typing has turned into that message.
 */

/** How long a typing event keeps the indicator on without another one. */
export const TYPING_SHOW_MS = 4_000;

export class PeerTyping {
	/** conversationId → until when (epoch ms) the peer counts as typing. */
	until = $state<Record<string, number>>({});
	// Bookkeeping for clearing timers, never rendered: `until` is the reactive state.
	// eslint-disable-next-line svelte/prefer-svelte-reactivity
	private readonly timers = new Map<string, ReturnType<typeof setTimeout>>();

	constructor(
		private readonly showMs = TYPING_SHOW_MS,
		private readonly now: () => number = Date.now
	) {}

	started(conversationId: string): void {
		this.until = { ...this.until, [conversationId]: this.now() + this.showMs };
		clearTimeout(this.timers.get(conversationId));
		this.timers.set(
			conversationId,
			setTimeout(() => this.stopped(conversationId), this.showMs)
		);
	}

	stopped(conversationId: string): void {
		clearTimeout(this.timers.get(conversationId));
		this.timers.delete(conversationId);
		if (!(conversationId in this.until)) return;
		const { [conversationId]: _gone, ...rest } = this.until;
		this.until = rest;
	}

	/** Timers must not fire into a stopped client. */
	dispose(): void {
		for (const timer of this.timers.values()) clearTimeout(timer);
		this.timers.clear();
	}
}
