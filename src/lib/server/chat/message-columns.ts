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

/** Given by the commit, not by the send: a resend may differ in these and still be the same message. */
const ASSIGNED: ReadonlySet<Key> = new Set(['id', 'seq', 'createdAt', 'clientId', 'clientSeq']);

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

/** Whether a send with a stored message's id says the same thing (else its id is a conflict). */
export function sameContent(stored: MessageRow, send: Partial<Record<Key, unknown>>): boolean {
	return columns.every(([key, column]) => ASSIGNED.has(key) || toDriver(column, send[key]) === toDriver(column, stored[key]));
}

const toDriver = (column: PgColumn, value: unknown) => (value === null || value === undefined ? null : column.mapToDriverValue(value));
