import { error, redirect } from '@sveltejs/kit';
import { z } from 'zod';
import { AppError } from '$lib/errors';
import { describeIssues, messageBodySchema } from '$lib/schemas';
import { failWith } from '$lib/server/form';
import type { Actions, PageServerLoad } from './$types';

const HISTORY_PAGE = 50;

const isUuid = (value: string) => z.uuid().safeParse(value).success;

/** The conversation with its newest page of history, rendered on the server for first paint. */
export const load: PageServerLoad = async ({ locals, params, url }) => {
	if (!locals.user) redirect(302, '/login');
	if (!isUuid(params.id)) error(404, 'There is no such conversation.');
	const { chat } = locals.services;
	try {
		const conversation = await chat.getConversation(locals.user.id, params.id);
		// `?at=SEQ` (a search result): the page around that message instead of the newest one.
		const at = Number(url.searchParams.get('at'));
		const target = Number.isInteger(at) && at >= 1 && at <= conversation.lastSeq ? at : null;
		const query = target
			? { before: Math.min(target + HISTORY_PAGE / 2, conversation.lastSeq + 1), limit: HISTORY_PAGE }
			: { limit: HISTORY_PAGE };
		const page = await chat.history(locals.user.id, params.id, query);
		// A fresh id per render makes the no-JS form idempotent: a resubmitted form repeats the id.
		return { conversation, messages: page.messages, hasMore: page.hasMore, at: target, formId: crypto.randomUUID() };
	} catch (failure) {
		if (failure instanceof AppError && failure.code === 'not_found') error(404, failure.message);
		throw failure;
	}
};

export const actions: Actions = {
	/** The composer without JavaScript: the server picks clientId and clientSeq for this session. */
	send: async ({ locals, params, request }) => {
		if (!locals.user || !locals.session) redirect(303, '/login');
		const data = await request.formData();
		const raw = String(data.get('body') ?? '');
		const id = String(data.get('id') ?? '');
		try {
			if (!isUuid(id) || !isUuid(params.id)) throw new AppError('bad_request', 'The form is out of date; reload the page and try again.');
			const body = messageBodySchema.safeParse(raw);
			if (!body.success) throw new AppError('bad_request', describeIssues(body.error));
			await locals.services.chat.sendFromForm(locals.user, locals.session.id, { id, conversationId: params.id, body: body.data });
		} catch (failure) {
			return failWith(failure, { body: raw });
		}
		// Post/redirect/get: a reload shows the conversation instead of posting again.
		redirect(303, `/c/${params.id}`);
	}
};
