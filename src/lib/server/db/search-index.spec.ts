import { readdirSync, readFileSync } from 'node:fs';
import { expect, test } from 'vitest';
import { FOLD_FROM, FOLD_TO } from '../../search-words';

test('the migrated search index folds accents with the table the queries use (else the planner skips it)', () => {
	const migrations = readdirSync('drizzle').filter((f) => f.endsWith('.sql'));
	const created = migrations
		.map((f) => readFileSync(`drizzle/${f}`, 'utf8'))
		.flatMap((sql) => sql.split('--> statement-breakpoint'))
		.filter((statement) => statement.includes('CREATE INDEX "messages_body_folded_search_idx"'));
	expect(created).toHaveLength(1);
	expect(created[0]).toContain(`translate("body", '${FOLD_FROM}', '${FOLD_TO}')`);
});
