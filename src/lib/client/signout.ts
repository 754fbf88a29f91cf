/**
 * The rules of signing out, apart from the UI: the session must end on the server before anything
 * local is forgotten (so a browser that could not reach it stays signed in, and says why), and
 * messages still in the outbox are counted first so the user can wait for them instead of losing
 * them silently.
 */
import { watch } from './live-query';
import { AppError } from '$lib/errors';
import type { DuetDb } from './db';

export interface Unsent {
	/** Still being delivered (messages, and the edits, deletes and reactions of `changes`): waiting for them can succeed. */
	queued: number;
	/** Out of retries: they go only if the user retries them. */
	failed: number;
	/** Of `queued`, the changes to messages (a refused change is already undone, so it is not counted). */
	changes: number;
}

export async function countUnsent(db: DuetDb): Promise<Unsent> {
	const [messages, failed, changes] = await Promise.all([
		db.outbox.where('state').equals('queued').count(),
		db.outbox.where('state').equals('failed').count(),
		db.changes.where('state').equals('queued').count()
	]);
	return { queued: messages + changes, failed, changes };
}

/**
 * Resolves once no message is queued any more (each one acked or failed), with what is left
 * unsent; rejects with the signal's reason when the user stops waiting.
 */
export function whenDelivered(db: DuetDb, signal?: AbortSignal): Promise<Unsent> {
	return new Promise((resolve, reject) => {
		if (signal?.aborted) return reject(signal.reason);
		const onAbort = () => {
			finish();
			reject(signal?.reason);
		};
		signal?.addEventListener('abort', onAbort, { once: true });
		const stop = watch(() => countUnsent(db), {
			next(unsent) {
				if (unsent.queued > 0) return;
				finish();
				resolve(unsent);
			},
			error(error) {
				finish();
				reject(error);
			}
		});
		function finish() {
			signal?.removeEventListener('abort', onAbort);
			// next() may run synchronously, before `stop` is assigned.
			queueMicrotask(() => stop());
		}
	});
}

/** Why the server could not end the session: nothing local was touched. */
export type SignOutRefusal = 'offline' | 'unreachable';

export type SignOutResult = { ok: true } | { ok: false; reason: SignOutRefusal };

/**
 * Ends the session on the server. A 401 means it has already ended (signed out elsewhere), which
 * is as good; a failed fetch or any other error leaves it valid, so signing out is refused.
 */
export async function endServerSession(
	logout: () => Promise<void>,
	online: () => boolean = () => navigator.onLine
): Promise<SignOutResult> {
	try {
		await logout();
		return { ok: true };
	} catch (error) {
		if (error instanceof AppError && error.code === 'unauthorized') return { ok: true };
		return { ok: false, reason: online() ? 'unreachable' : 'offline' };
	}
}

export function refusalMessage(reason: SignOutRefusal): string {
	return reason === 'offline'
		? "You're offline, so you can't sign out until the connection is back. You're still signed in."
		: "The server can't be reached, so you can't sign out until it's back. You're still signed in.";
}

export function unsentMessage(unsent: Unsent): string {
	const { changes } = unsent;
	const messages = unsent.queued - changes + unsent.failed;
	if (messages + changes === 0) return 'All your messages have been sent.';
	if (unsent.queued === 0) return `${messages} ${messages === 1 ? 'message' : 'messages'} could not be sent.`;
	const sentences = [];
	if (messages > 0) sentences.push(`${messages} ${messages === 1 ? "message hasn't" : "messages haven't"} been sent yet.`);
	if (changes > 0) sentences.push(`${changes} ${changes === 1 ? "edit or reaction hasn't" : "edits or reactions haven't"} been saved yet.`);
	return sentences.join(' ');
}
