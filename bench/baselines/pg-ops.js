/**
 * Baseline (d) for the operations rows: the same work as bare statements, one per transaction, on
 * the app's own tables (postgres.js, or PGlite opened as the app opens it): an edit is one
 * `UPDATE messages`, a reaction one `INSERT` into `message_reactions` and then one `DELETE` of it,
 * a search the query of chat/search.ts, written by hand with the GIN index's own expression
 * (read from the catalog, so the planner can use the index). No events, no cursors, no HTTP.
 */
import { closedLoop } from '../lib/closed-loop.js';
import { serve } from '../lib/util.js';

async function connect(target, max) {
	if (target.url) {
		const { default: postgres } = await import('postgres');
		const sql = postgres(target.url, { max, onnotice: () => {} });
		return { query: (text, params) => sql.unsafe(text, params, { prepare: true }), close: () => sql.end() };
	}
	const { openPgliteDir } = await import('../../src/lib/server/db/pglite-durable.js');
	const db = await openPgliteDir(target.dir, { unsafeNoFsync: target.unsafeNoFsync });
	return { query: async (text, params) => (await db.query(text, params)).rows, close: () => db.close() };
}

async function searchSql(db) {
	const [{ def }] = await db.query(`select pg_get_indexdef('messages_body_folded_search_idx'::regclass) as def`);
	const expression = /USING gin \((.*)\)$/.exec(def)?.[1];
	if (!expression) throw new Error(`unexpected search index: ${def}`);
	return `select m.*, pu.id as peer_id, pu.username as peer_username
		from messages m
		join conversation_members me on me.conversation_id = m.conversation_id and me.user_id = $1
		join conversation_members p on p.conversation_id = m.conversation_id and p.user_id <> $1
		join users pu on pu.id = p.user_id
		where ${expression.replace(/\bbody\b/, 'm.body')} @@ to_tsquery('simple', $2) and m.deleted_at is null
		order by m.created_at desc, m.seq desc limit 50`;
}

serve({
	/** `workers` as for bench/load/operations.js, with `userId` and, for search, `queries` (tsquery text). */
	async run({ target, kind, workers, inFlight, durationMs }) {
		const db = await connect(target, inFlight);
		const search = kind === 'search' ? await searchSql(db) : null;
		const counts = new Array(inFlight).fill(0);
		try {
			return await closedLoop(
				async (w) => {
					const { userId, messageIds, queries } = workers[w % workers.length];
					const k = counts[w]++;
					if (kind === 'edit') {
						await db.query(`update messages set body = $1, edited_at = now(), version = version + 1 where id = $2`, [
							`Edited by the bare loop, ${k}`,
							messageIds[k % messageIds.length]
						]);
					} else if (kind === 'reaction') {
						const id = messageIds[Math.floor(k / 2) % messageIds.length];
						if (k % 2)
							await db.query(`delete from message_reactions where message_id = $1 and emoji = $2 and user_id = $3`, [id, '👍', userId]);
						else
							await db.query(`insert into message_reactions (message_id, emoji, user_id, version) values ($1, $2, $3, 1)`, [
								id,
								'👍',
								userId
							]);
					} else {
						await db.query(search, [userId, queries[k % queries.length]]);
					}
					return true;
				},
				{ inFlight, durationMs }
			);
		} finally {
			await db.close();
		}
	}
});
