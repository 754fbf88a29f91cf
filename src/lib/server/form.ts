/** Form-action helpers: the same validation and errors as the JSON API, shaped for `fail()`. */
import { fail, redirect, type RequestEvent } from '@sveltejs/kit';
import { AppError } from '$lib/errors';
import { credentialsSchema, describeIssues, registerSchema } from '$lib/schemas';
import { toAppError } from './failures';
import { clientAddress } from './http';
import { startSession } from './signin';

function readCredentials(data: FormData) {
	return readForm(credentialsSchema, {
		username: String(data.get('username') ?? ''),
		password: String(data.get('password') ?? '')
	});
}

function readRegistrant(data: FormData) {
	const inviteCode = String(data.get('inviteCode') ?? '').trim();
	return readForm(registerSchema, {
		username: String(data.get('username') ?? ''),
		password: String(data.get('password') ?? ''),
		...(inviteCode ? { inviteCode } : {})
	});
}

function readForm<S extends typeof credentialsSchema | typeof registerSchema>(schema: S, fields: Record<string, string>) {
	const parsed = schema.safeParse(fields);
	if (!parsed.success) throw new AppError('bad_request', describeIssues(parsed.error).replace(/^\w+: /, ''));
	return parsed.data;
}

export function failWith(error: unknown, values: Record<string, string> = {}) {
	const appError = toAppError(error);
	return fail(appError.status, { message: appError.message, ...values });
}

/**
 * The /login and /register pages: signed-in visitors go home; the form action validates, signs in
 * or up, starts a session and redirects, or re-renders with the message and the typed username.
 * Like every route, the action takes the services from `locals`, where the `handle` hook put them.
 */
export function authPage(kind: 'login' | 'register') {
	return {
		load: ({ locals, url }: RequestEvent) => {
			if (locals.user) redirect(302, '/');
			// The register page shows the policy: a closed notice, or an invite field filled from ?invite=.
			return { registration: locals.services.auth.registration, invite: url.searchParams.get('invite') ?? '' };
		},
		actions: {
			default: async (event: RequestEvent) => {
				const data = await event.request.formData();
				const username = String(data.get('username') ?? '');
				const inviteCode = String(data.get('inviteCode') ?? '');
				try {
					const app = event.locals.services;
					const address = clientAddress(event);
					const user =
						kind === 'login'
							? await app.auth.login(readCredentials(data), address)
							: await app.auth.register(readRegistrant(data), address);
					await startSession(app, event, user);
				} catch (error) {
					return failWith(error, { username, inviteCode });
				}
				redirect(303, '/');
			}
		}
	};
}
