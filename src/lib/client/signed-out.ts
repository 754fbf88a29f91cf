/**
 * Where a device lands when its session was ended from another one (sign out everywhere, or that
 * session signed out from elsewhere), so the sign-in page can say why. Its own module: the sign-in
 * page imports it, and nothing of the chat client.
 */
export const SIGNED_OUT_ELSEWHERE = '/login?ended=elsewhere';

export function signedOutElsewhere(url: URL): boolean {
	return url.pathname === '/login' && url.searchParams.get('ended') === 'elsewhere';
}

/** Where a browser lands after deleting its own account: the sign-in page says it was deleted. */
export const ACCOUNT_DELETED = '/login?deleted=1';
