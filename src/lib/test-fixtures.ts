/** Shared fixtures for specs. */
import type { Message } from './types';

/** The fields of a message that no change has touched: spread into a fixture of an unchanged message. */
export const UNCHANGED = {
	replyTo: null,
	editedAt: null,
	deletedAt: null,
	reactions: [],
	attachments: [],
	preview: null,
	version: 0
} as const satisfies Partial<Message>;
