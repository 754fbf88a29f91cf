/** Form-action helpers: the same validation and errors as the JSON API, shaped for `fail()`. */
import { fail } from '@sveltejs/kit';
import { AppError } from '$lib/errors';
import { credentialsSchema, describeIssues } from '$lib/schemas';
import { toAppError } from './failures';

export function readCredentials(data: FormData) {
	const parsed = credentialsSchema.safeParse({
		username: String(data.get('username') ?? ''),
		password: String(data.get('password') ?? '')
	});
	if (!parsed.success) throw new AppError('bad_request', describeIssues(parsed.error).replace(/^\w+: /, ''));
	return parsed.data;
}

export function failWith(error: unknown, values: Record<string, string> = {}) {
	const appError = toAppError(error);
	return fail(appError.status, { message: appError.message, ...values });
}
