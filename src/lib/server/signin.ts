/** Starting and ending a signed-in session for a request: shared by the JSON API and the form actions. */
import type { RequestEvent } from '@sveltejs/kit';
import { AppError } from '$lib/errors';
import type { User } from '$lib/types';
import { clearSessionCookie, setSessionCookie } from './cookies';
import { storedUserAgent } from './devices';
import { clientAddress } from './http';
import type { Services } from './services';
import { findSession } from './session-list';

/** Ending a session is two steps: its row goes, and its open connections (here and elsewhere) close. */
export type SigninServices = Pick<Services, 'sessions' | 'chat'>;

export async function startSession({ sessions, chat }: SigninServices, event: RequestEvent, user: User): Promise<void> {
	// Any session the browser carried in is dropped: a fresh token on every sign-in defeats fixation.
	const previous = event.locals.session;
	if (previous) {
		await sessions.invalidate(previous.id);
		chat.revokeSessions(previous.userId, [previous.id]);
	}
	const { session, token } = await sessions.create(user.id, new Date(), {
		userAgent: storedUserAgent(event.request.headers.get('user-agent')),
		address: clientAddress(event)
	});
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

/**
 * Ends one of the signed-in user's sessions by its wire id (another user's or unknown → 404); ending
 * the current one this way is signing out.
 */
export async function endSessionById(app: SigninServices, event: RequestEvent, user: User, publicId: string): Promise<void> {
	const found = findSession(await app.sessions.listUser(user.id), publicId);
	if (found && found.id === event.locals.session?.id) return endSession(app, event);
	if (!found || !(await app.sessions.invalidateOwned(user.id, found.id))) {
		throw new AppError('not_found', 'There is no such session.');
	}
	app.chat.revokeSessions(user.id, [found.id]);
}

/** Ends every session of the signed-in user but the one making the request. */
export async function endOtherSessions({ sessions, chat }: SigninServices, user: User, currentId: string): Promise<void> {
	const ended = await sessions.invalidateOthers(user.id, currentId);
	if (ended.length) chat.revokeSessions(user.id, ended);
}
