/**
 * The messages table as group commit's raw SQL sees it, derived from the Drizzle schema: the batch
 * statements list their columns from here and rows cross them as JSON encoded column by column, so a
 * column added to `messages` is written, read back and compared on resend without editing any SQL.
 */
import { getTableColumns } from 'drizzle-orm';
import type { PgColumn } from 'drizzle-orm/pg-core';
import { messages } from '../db/schema';
import type { MessageRow } from './views';

type Key = keyof MessageRow;

const columns = Object.entries(getTableColumns(messages)) as [Key, PgColumn][];

/** Columns the commit (or a later change) assigns: no send gives them (see group-commit.ts BatchSend). */
export const ASSIGNED_BY_COMMIT = ['seq', 'createdAt', 'editedAt', 'deletedAt', 'version', 'preview'] as const satisfies readonly Key[];

/** A resend may differ in these and still be the same message. */
const ASSIGNED: ReadonlySet<Key> = new Set([...ASSIGNED_BY_COMMIT, 'id', 'clientId', 'clientSeq']);

/** Columns a change may have moved on since the send: compared only while the message is as sent. */
const CHANGEABLE: ReadonlySet<Key> = new Set(['body']);

/** `name, …` in schema order, for an INSERT's column list and its SELECT. */
export const COLUMN_NAMES = columns.map(([, column]) => column.name).join(', ');

/** `name type, …` for json_to_recordset's row definition. */
export const RECORD_DEFINITION = columns.map(([, column]) => `${column.name} ${column.getSQLType()}`).join(', ');

/** A row as JSON for json_to_recordset: column names, driver values (timestamps as ISO text). */
export function toRecord(row: MessageRow): Record<string, unknown> {
	const record: Record<string, unknown> = {};
	for (const [key, column] of columns) record[column.name] = toDriver(column, row[key]);
	return record;
}

/** The inverse of `toRecord`, for `row_to_json(messages)` read back as text. */
export function fromRecord(record: Record<string, unknown>): MessageRow {
	const row: Record<string, unknown> = {};
	for (const [key, column] of columns) {
		const value = record[column.name];
		row[key] = value === null || value === undefined ? null : column.mapFromDriverValue(value);
	}
	return row as MessageRow;
}

/**
 * Whether a send with a stored message's id says the same thing (else its id is a conflict). A
 * message edited or deleted since is still the one a client resends (its outbox may hold the send
 * past the change): only what no change touches is compared then.
 */
export function sameContent(stored: MessageRow, send: Partial<Record<Key, unknown>>): boolean {
	const changed = stored.editedAt !== null || stored.deletedAt !== null;
	return columns.every(
		([key, column]) =>
			ASSIGNED.has(key) || (changed && CHANGEABLE.has(key)) || toDriver(column, send[key]) === toDriver(column, stored[key])
	);
}

const toDriver = (column: PgColumn, value: unknown) => (value === null || value === undefined ? null : column.mapToDriverValue(value));
