/** Starting and ending a signed-in session for a request: shared by the JSON API and the form actions. */
import type { RequestEvent } from '@sveltejs/kit';
import type { User } from '$lib/types';
import { clearSessionCookie, setSessionCookie } from './cookies';
import { services } from './services';
import { createSession, expiresAt, invalidateSession, invalidateUserSessions } from './session';

export async function startSession(event: RequestEvent, user: User): Promise<void> {
	const { database, sessionPolicy, chat } = services();
	// Any session the browser carried in is dropped: a fresh token on every sign-in defeats fixation.
	const previous = event.locals.session;
	if (previous) {
		await invalidateSession(database.db, previous.id);
		chat.revokeSessions(previous.userId, [previous.id]);
	}
	const { session, token } = await createSession(database.db, user.id);
	setSessionCookie(event.cookies, event.url, token, expiresAt(session, sessionPolicy));
	event.locals.user = user;
	event.locals.session = session;
}

export async function endSession(event: RequestEvent, everywhere = false): Promise<void> {
	const { database, chat } = services();
	const { session, user } = event.locals;
	if (everywhere && user) {
		await invalidateUserSessions(database.db, user.id);
		chat.revokeSessions(user.id, 'all');
	} else if (session && user) {
		await invalidateSession(database.db, session.id);
		chat.revokeSessions(user.id, [session.id]);
	}
	clearSessionCookie(event.cookies, event.url);
	event.locals.user = null;
	event.locals.session = null;
}
