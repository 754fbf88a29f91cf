/**
 * A message's files as a bubble shows them: the server's attachments once the message is sent,
 * and until then this device's copies (uploads.ts), each with its upload state, shown from the
 * local bytes so nothing waits for the network.
 */
import type { Attachment } from '$lib/types';
import { isImage } from './attachment-rules';
import type { PendingUpload } from './db';

export interface ShownAttachment {
	/** The attachment's id once the server has it, the upload's until then. */
	key: string;
	name: string;
	type: string;
	size: number;
	width: number | null;
	height: number | null;
	image: boolean;
	/** The full file on the server, once stored. */
	url: string | null;
	thumbnailUrl: string | null;
	/** The local bytes, while this device still holds them. */
	blob: Blob | null;
	upload: Pick<PendingUpload, 'id' | 'state' | 'lastError'> | null;
}

function fromServer(a: Attachment): ShownAttachment {
	return { ...a, key: a.id, image: a.thumbnailUrl !== null, blob: null, upload: null };
}

function fromUpload(u: PendingUpload): ShownAttachment {
	return {
		// The server's id once stored, so the picture keeps its place when the server's copy replaces this one.
		key: u.attachment?.id ?? u.id,
		name: u.name,
		type: u.attachment?.type ?? u.type,
		size: u.size,
		width: u.attachment?.width ?? u.width,
		height: u.attachment?.height ?? u.height,
		image: u.attachment ? u.attachment.thumbnailUrl !== null : isImage(u.type),
		url: u.attachment?.url ?? null,
		thumbnailUrl: u.attachment?.thumbnailUrl ?? null,
		blob: u.blob,
		upload: { id: u.id, state: u.state, lastError: u.lastError }
	};
}

/** Nothing for a deleted message: its files are gone on the server too. */
export function shownAttachments(
	message: { attachments?: readonly Attachment[]; deletedAt: string | null },
	uploads: readonly PendingUpload[] = []
): ShownAttachment[] {
	if (message.deletedAt) return [];
	if (uploads.length > 0) return [...uploads].sort((a, b) => a.order - b.order).map(fromUpload);
	return (message.attachments ?? []).map(fromServer);
}

/** Uploads grouped by message. */
export function uploadsByMessage(uploads: readonly PendingUpload[]): Map<string, PendingUpload[]> {
	const map = new Map<string, PendingUpload[]>();
	for (const u of uploads) map.set(u.messageId, [...(map.get(u.messageId) ?? []), u]);
	return map;
}

/** What a message says in one line (list preview, reply quote, announcement): its text, else what it carries. */
export function messageSummary(message: { body: string; attachments?: readonly Pick<Attachment, 'name'>[] }): string {
	if (message.body !== '') return message.body;
	const files = message.attachments ?? [];
	if (files.length === 0) return '';
	return files.length === 1 ? `📎 ${files[0].name}` : `📎 ${files.length} files`;
}
