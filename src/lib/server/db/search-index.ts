/**
 * The expression that message search matches and that its GIN index holds: one definition, so
 * the query always has the index's exact expression (or the planner would not use the index).
 */
import { sql, type SQL, type AnyColumn } from 'drizzle-orm';
import { FOLD_FROM, FOLD_TO } from '../../search-words';

export function searchableBody(body: AnyColumn | SQL): SQL {
	// Literals, not parameters: an index expression cannot have parameters (the table has no quote).
	return sql`to_tsvector('simple', translate(${body}, ${sql.raw(`'${FOLD_FROM}'`)}, ${sql.raw(`'${FOLD_TO}'`)}))`;
}
