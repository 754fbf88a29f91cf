/**
 * The limits of a message's files (PROTOCOL.md "Attachments"), checked when they are chosen so
 * the user hears no at once instead of from a failed upload later, and how sizes read.
 */

export const MAX_FILES = 10;
/** The server's default MAX_ATTACHMENT_BYTES. */
export const MAX_FILE_BYTES = 25 * 1024 * 1024;

export interface Chosen {
	name: string;
	size: number;
}

export interface Checked<F extends Chosen> {
	accepted: F[];
	/** One sentence per refusal, for the user. */
	refused: string[];
}

/** Which of `files` may join the `already` chosen ones, in order, and why the others may not. */
export function checkFiles<F extends Chosen>(already: number, files: readonly F[]): Checked<F> {
	const accepted: F[] = [];
	const refused: string[] = [];
	let dropped = 0;
	for (const file of files) {
		if (file.size === 0) refused.push(`${file.name} is empty.`);
		else if (file.size > MAX_FILE_BYTES) refused.push(`${file.name} is larger than ${humanSize(MAX_FILE_BYTES)}.`);
		else if (already + accepted.length >= MAX_FILES) dropped++;
		else accepted.push(file);
	}
	if (dropped > 0) {
		refused.push(`A message can carry at most ${MAX_FILES} files; ${dropped} ${dropped === 1 ? 'was' : 'were'} left out.`);
	}
	return { accepted, refused };
}

/** 1536 → "1.5 KB": binary units, one decimal below 10. */
export function humanSize(bytes: number): string {
	const units = ['bytes', 'KB', 'MB', 'GB'];
	let value = bytes;
	let unit = 0;
	while (value >= 1024 && unit < units.length - 1) {
		value /= 1024;
		unit++;
	}
	if (unit === 0) return `${bytes} ${bytes === 1 ? 'byte' : 'bytes'}`;
	return `${value < 10 ? value.toFixed(1).replace(/\.0$/, '') : Math.round(value)} ${units[unit]}`;
}

/** Types the browser can show inline as a picture. */
export function isImage(type: string): boolean {
	return /^image\/(png|jpeg|gif|webp|avif|bmp)$/.test(type);
}

/** The files break the limits; nothing was stored. */
export class FilesRefused extends Error {
	constructor(readonly reasons: string[]) {
		super(reasons.join(' '));
		this.name = 'FilesRefused';
	}
}
