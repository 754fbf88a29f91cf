/**
 * The rules of a message that the browser needs at once, without zod: schemas.ts builds the
 * validation on these, and the chat's first load imports them from here rather than pulling the
 * validation library in with them.
 */
import type { SendInput } from './schemas';

export const MAX_BODY_CHARS = 4000;
export const MAX_JSON_BYTES = 64 * 1024;

/**
 * The fields of a send. The check below fails to compile until this lists every field of
 * `sendSchema`, so a field added to the send's content travels in every send from the outbox on.
 */
export const SEND_FIELDS = [
	'id',
	'conversationId',
	'clientId',
	'clientSeq',
	'body',
	'replyTo',
	'attachments'
] as const satisfies readonly (keyof SendInput)[];
type Unlisted = Exclude<keyof SendInput, (typeof SEND_FIELDS)[number]>;
const everyFieldListed: [Unlisted] extends [never] ? true : Unlisted = true;
void everyFieldListed;

/** A message as a client holds it: its attachments as the server showed them, or their ids. */
export type SendSource = Omit<SendInput, 'attachments'> & { attachments?: readonly (string | { id: string })[] };

/** The send of a stored message: the protocol's fields of a send, taken from the row (attachments by id). */
export function sendOf(message: SendSource): SendInput {
	const send = Object.fromEntries(SEND_FIELDS.map((field) => [field, message[field]])) as SendInput;
	send.attachments = (message.attachments ?? []).map((a) => (typeof a === 'string' ? a : a.id));
	return send;
}

const graphemes = new Intl.Segmenter('en', { granularity: 'grapheme' });
/** Fully qualified emoji (keycaps, flags, ZWJ sequences and skin tones included), as pickers give them. */
const RGI_EMOJI = /^\p{RGI_Emoji}$/v;
/** Emoji without their variation selector (❤ as well as ❤️), which keyboards still type. */
const PICTOGRAPH = /\p{Extended_Pictographic}/u;

/** Exactly one emoji: one grapheme that is one. */
export function isSingleEmoji(text: string): boolean {
	if (text.length === 0 || text.length > 64) return false;
	const [first, second] = graphemes.segment(text);
	if (!first || second) return false;
	return RGI_EMOJI.test(text) || PICTOGRAPH.test(text);
}
