import { redirect, type RequestEvent } from '@sveltejs/kit';
import { AppError } from '$lib/errors';
import { describeIssues, passwordChangeSchema } from '$lib/schemas';
import { failWith } from '$lib/server/form';
import { clientAddress, requireSession } from '$lib/server/http';
import { publicSessionId, sessionList } from '$lib/server/session-list';
import { endOtherSessions, endSessionById } from '$lib/server/signin';
import type { Actions, PageServerLoad } from './$types';

export const load: PageServerLoad = async ({ locals }) => {
	if (!locals.user || !locals.session) redirect(302, '/login');
	const { sessions, chat } = locals.services;
	const [records, settings] = await Promise.all([sessions.listUser(locals.user.id), chat.settings(locals.user.id)]);
	// Invites are made here only when the server takes them (REGISTRATION=invite).
	return { sessions: sessionList(records, locals.session.id), settings, invites: locals.services.auth.registration === 'invite' };
};

/** The signed-in user and session, or off to sign-in (a form post has no JSON error to show). */
function signedIn(event: RequestEvent) {
	if (!event.locals.user || !event.locals.session) redirect(303, '/login');
	return requireSession(event);
}

/** Each action answers with the section it was for, so the page shows its message there. */
export const actions: Actions = {
	password: async (event) => {
		const { user, session } = signedIn(event);
		const data = await event.request.formData();
		try {
			const parsed = passwordChangeSchema.safeParse({
				currentPassword: String(data.get('currentPassword') ?? ''),
				newPassword: String(data.get('newPassword') ?? '')
			});
			if (!parsed.success) throw new AppError('bad_request', describeIssues(parsed.error).replace(/^\w+: /, ''));
			if (data.get('confirmPassword') !== parsed.data.newPassword) {
				throw new AppError('bad_request', 'The new password and its confirmation differ.');
			}
			const app = event.locals.services;
			await app.auth.changePassword(user.id, parsed.data, clientAddress(event));
			await endOtherSessions(app, user, session.id);
		} catch (error) {
			return failWith(error, { section: 'password' });
		}
		return { section: 'password', done: 'Your password is changed. Every other device is signed out.' };
	},
	signOutSession: async (event) => {
		const { user, session } = signedIn(event);
		const id = String((await event.request.formData()).get('id') ?? '');
		try {
			await endSessionById(event.locals.services, event, user, id);
		} catch (error) {
			return failWith(error, { section: 'sessions' });
		}
		if (publicSessionId(session.id) === id) redirect(303, '/login');
		return { section: 'sessions', done: 'That device is signed out.' };
	},
	signOutOthers: async (event) => {
		const { user, session } = signedIn(event);
		try {
			await endOtherSessions(event.locals.services, user, session.id);
		} catch (error) {
			return failWith(error, { section: 'sessions' });
		}
		return { section: 'sessions', done: 'Every other device is signed out.' };
	},
	privacy: async (event) => {
		const { user } = signedIn(event);
		const readReceipts = (await event.request.formData()).get('readReceipts') === 'on';
		try {
			await event.locals.services.chat.updateSettings(user.id, { readReceipts });
		} catch (error) {
			return failWith(error, { section: 'privacy' });
		}
		return { section: 'privacy', done: readReceipts ? 'Read receipts are on.' : 'Read receipts are off.' };
	}
};
