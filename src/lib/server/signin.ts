/** Starting and ending a signed-in session for a request: shared by the JSON API and the form actions. */
import type { RequestEvent } from '@sveltejs/kit';
import type { User } from '$lib/types';
import { clearSessionCookie, setSessionCookie } from './cookies';
import type { Services } from './services';

/** Ending a session is two steps: its row goes, and its open connections (here and elsewhere) close. */
export type SigninServices = Pick<Services, 'sessions' | 'chat'>;

export async function startSession({ sessions, chat }: SigninServices, event: RequestEvent, user: User): Promise<void> {
	// Any session the browser carried in is dropped: a fresh token on every sign-in defeats fixation.
	const previous = event.locals.session;
	if (previous) {
		await sessions.invalidate(previous.id);
		chat.revokeSessions(previous.userId, [previous.id]);
	}
	const { session, token } = await sessions.create(user.id);
	setSessionCookie(event.cookies, event.url, token, sessions.expiresAt(session));
	event.locals.user = user;
	event.locals.session = session;
}

export async function endSession({ sessions, chat }: SigninServices, event: RequestEvent, everywhere = false): Promise<void> {
	const { session, user } = event.locals;
	if (everywhere && user) {
		await sessions.invalidateUser(user.id);
		chat.revokeSessions(user.id, 'all');
	} else if (session && user) {
		await sessions.invalidate(session.id);
		chat.revokeSessions(user.id, [session.id]);
	}
	clearSessionCookie(event.cookies, event.url);
	event.locals.user = null;
	event.locals.session = null;
}
