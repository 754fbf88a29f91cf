/** Zod schemas for every input of the protocol; the server validates with these, the client reuses them. */
import { z } from 'zod';

import { isSingleEmoji, MAX_BODY_CHARS } from './message-rules';

export { isSingleEmoji, MAX_BODY_CHARS, MAX_JSON_BYTES, sendOf } from './message-rules';

export const usernameSchema = z
	.string()
	.trim()
	.toLowerCase()
	.regex(/^[a-z0-9_]{3,32}$/, 'Usernames are 3–32 characters of a–z, 0–9 and _.');

export const passwordSchema = z
	.string()
	.min(8, 'Passwords need at least 8 characters.')
	.max(256, 'Passwords can have at most 256 characters.');

export const credentialsSchema = z.object({ username: usernameSchema, password: passwordSchema });
/** Invite codes are 24 base32 characters; the bound only keeps junk short. */
export const inviteCodeSchema = z.string().trim().min(1, 'Enter the invite code.').max(100);
export const registerSchema = credentialsSchema.extend({ inviteCode: inviteCodeSchema.optional() });
/** The current password, asked again before deleting an account; only its length is bounded. */
export const passwordConfirmationSchema = z.object({ password: z.string().min(1, 'Enter your password.').max(256) });
/** A new password chosen on a reset link, typed twice. */
export const passwordResetSchema = z
	.object({ password: passwordSchema, confirm: z.string() })
	.refine((v) => v.password === v.confirm, { message: 'The two passwords differ.', path: ['confirm'] });

const uuid = z.uuid('Expected a UUID.');
const seq = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

/** A body's text rules, whatever its length: trimmed, at most MAX_BODY_CHARS, storable as it came. */
const bodyText = (min: number) =>
	z
		.string()
		.transform((s) => s.trim())
		.pipe(
			z
				.string()
				.min(min, 'A message cannot be empty.')
				.max(MAX_BODY_CHARS, `A message can have at most ${MAX_BODY_CHARS} characters.`)
				// PostgreSQL text cannot store NUL; refusing it beats silently altering the message.
				.refine((s) => !s.includes('\u0000'), 'A message cannot contain NUL characters.')
				// Nor half a surrogate pair: stored as U+FFFD, the resend of the same request would no longer
				// match it (409), and a client whose ack was lost could never get it.
				.refine((s) => s.isWellFormed(), 'A message cannot contain half of a surrogate pair.')
		);

/** An edit's body: never empty (a message without text keeps its text, or is deleted). */
export const messageBodySchema = bodyText(1);

export const MAX_ATTACHMENTS = 10;

/** What the sender writes: a field added here travels in every send, from the outbox to the row. */
export const messageContentSchema = z.object({
	/** May be empty when the send carries an attachment (`sendRules` checks both together). */
	body: bodyText(0),
	/** The message this one answers: one of the same conversation, stored by the time this one commits. */
	replyTo: uuid.nullable().default(null),
	/**
	 * Uploads of the sender to the same conversation not yet part of a message, in the order shown.
	 * Left out means none: optional rather than defaulted, so a send built before attachments
	 * existed (an outbox entry, a test) is still a send.
	 */
	attachments: z
		.array(uuid)
		.max(MAX_ATTACHMENTS, `A message can carry at most ${MAX_ATTACHMENTS} attachments.`)
		.refine((ids) => new Set(ids.map((id) => id.toLowerCase())).size === ids.length, 'An attachment can be in a message once.')
		.optional()
});
export type MessageContent = z.infer<typeof messageContentSchema>;
/** As a caller gives it: `replyTo` and `attachments` may be left out. */
export type MessageContentInput = z.input<typeof messageContentSchema>;

const sendShape = {
	id: uuid,
	conversationId: uuid,
	clientId: uuid,
	clientSeq: z
		.number()
		.int()
		.min(1)
		.max(2 ** 31 - 1),
	...messageContentSchema.shape
};

/**
 * The rule across two fields: a body, an attachment, or both. Applied to each schema that takes a
 * whole send (zod 4 refuses to extend an object that has refinements, so each is built from
 * `sendShape` and refined last).
 */
function sendRules(send: { body: string; attachments?: string[] }, ctx: z.RefinementCtx) {
	if (send.body === '' && !send.attachments?.length) {
		ctx.addIssue({ code: 'custom', path: ['body'], message: 'A message cannot be empty.' });
	}
}

export const sendSchema = z.object(sendShape).superRefine(sendRules);
export type SendInput = z.infer<typeof sendSchema>;

export const emojiSchema = z.string().refine(isSingleEmoji, 'A reaction is exactly one emoji.');

/** Body of PATCH /api/messages/:id. */
export const editSchema = z.object({ body: messageBodySchema });

/**
 * A change to a stored message, as the chat service takes it from either transport: edit and delete
 * by its sender only, reactions by any member. Each one that changes something is a `message_updated` event.
 */
export const messageChangeSchema = z.discriminatedUnion('op', [
	z.object({ op: z.literal('edit'), messageId: uuid, ...editSchema.shape }),
	z.object({ op: z.literal('delete'), messageId: uuid }),
	z.object({ op: z.literal('react'), messageId: uuid, emoji: emojiSchema }),
	z.object({ op: z.literal('unreact'), messageId: uuid, emoji: emojiSchema })
]);
export type MessageChange = z.infer<typeof messageChangeSchema>;

export const receiptSchema = z.object({
	conversationId: uuid,
	seq,
	status: z.enum(['delivered', 'read'])
});
export type ReceiptInput = z.infer<typeof receiptSchema>;

export const typingSchema = z.object({ conversationId: uuid });

export const openConversationSchema = z.object({ username: usernameSchema });

export const blockSchema = z.strictObject({ username: usernameSchema });

export const conversationSettingsSchema = z.strictObject({ muted: z.boolean() });

/** The largest seq a conversation can hold: the columns are PostgreSQL integers. */
export const MAX_SEQ = 2 ** 31 - 1;

/**
 * A query parameter holding a whole number from `min` to `max`, written in plain decimal: no sign,
 * blanks, exponent, hex or leading zeros (what z.coerce.number would let through, '' as 0 among them).
 */
function queryInt(name: string, min: number, max: number) {
	return z
		.string()
		.regex(/^(0|[1-9]\d{0,15})$/, `${name} must be a whole number from ${min} to ${max}.`)
		.transform(Number)
		.pipe(
			z
				.number()
				.min(min, `${name} must be a whole number from ${min} to ${max}.`)
				.max(max, `${name} must be a whole number from ${min} to ${max}.`)
		);
}

export const historyQuerySchema = z.object({
	before: queryInt('before', 1, MAX_SEQ).optional(),
	after: queryInt('after', 0, MAX_SEQ).optional(),
	limit: queryInt('limit', 1, 200).default(50)
});

export const clientFrameSchema = z.discriminatedUnion('type', [
	z.object({ ...sendShape, type: z.literal('send') }).superRefine(sendRules),
	receiptSchema.extend({ type: z.literal('receipt') }),
	typingSchema.extend({ type: z.literal('typing') }),
	typingSchema.extend({ type: z.literal('typing_stopped') }),
	// Answered by `{type: "changed", id, message}` or an error frame with this id.
	z.object({ type: z.literal('change'), id: uuid, change: messageChangeSchema }),
	z.object({ type: z.literal('ping') })
]);
export type ClientFrame = z.infer<typeof clientFrameSchema>;

/** One sentence a person can act on, from the first zod issue. */
export function describeIssues(error: z.ZodError): string {
	const issue = error.issues[0];
	if (!issue) return 'The request is invalid.';
	const path = issue.path.length ? `${issue.path.join('.')}: ` : '';
	return `${path}${issue.message}`;
}

/** POST /api/attachments/uploads: a resumable upload of a file of `size` bytes (the limits are the server's). */
export const createUploadSchema = z.object({
	conversationId: uuid,
	name: z.string().max(1024, 'A file name can have at most 1024 characters.'),
	size: z.number().int('The size is a whole number of bytes.').nonnegative().max(Number.MAX_SAFE_INTEGER)
});

/** The current password is only compared, so any length a password may have is accepted. */
export const passwordChangeSchema = z.object({
	currentPassword: z.string().min(1, 'Enter your current password.').max(256),
	newPassword: passwordSchema
});

export const settingsPatchSchema = z.strictObject({ readReceipts: z.boolean().optional() });
export type SettingsPatch = z.infer<typeof settingsPatchSchema>;
