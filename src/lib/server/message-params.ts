/** The path parameters of /api/messages/:id and its reactions, checked the way every route checks ids. */
import type { RequestEvent } from '@sveltejs/kit';
import { z } from 'zod';
import { AppError } from '$lib/errors';
import { emojiSchema } from '$lib/schemas';
import { NO_SUCH_MESSAGE } from './chat/change';

/** An id that cannot exist is answered like one that is not yours: never reveal which. */
export function messageIdParam(event: RequestEvent): string {
	const id = z.uuid().safeParse(event.params.id);
	if (!id.success) throw NO_SUCH_MESSAGE();
	return id.data;
}

/**
 * The emoji as the client encoded it, decoded here from the raw path: a malformed escape is then
 * this route's 400 like any other text that is not one emoji.
 */
export function emojiParam(event: RequestEvent): string {
	// The segment after /reactions (optional in the route, so that an empty one is answered here too).
	const raw = /\/reactions(?:\/([^/]*))?\/?$/.exec(event.url.pathname)?.[1] ?? '';
	let text: string;
	try {
		text = decodeURIComponent(raw);
	} catch {
		throw new AppError('bad_request', 'The reaction is not valid URL-encoded text.');
	}
	const emoji = emojiSchema.safeParse(text);
	if (!emoji.success) throw new AppError('bad_request', 'A reaction is exactly one emoji.');
	return emoji.data;
}
