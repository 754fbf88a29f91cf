/**
 * Direct SQL access for setting up benchmark data without going through the API: databases to
 * create and drop, users with ready-made sessions (so no argon2 cost per user), 1:1 conversations,
 * and bulk history made with generate_series. The same SQL runs on PostgreSQL and PGlite.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import path from 'node:path';
import { openPgliteDir } from '../../src/lib/server/db/pglite-durable.js';
import { APP_DIR } from './server.js';

/** One SQL connection: `exec` runs statements, `rows` returns a query's rows. */
export async function openSql(target) {
	if (target.url) {
		const { default: postgres } = await import('postgres');
		const sql = postgres(target.url, { max: 1, onnotice: () => {}, connect_timeout: 10 });
		return {
			exec: (text) => sql.unsafe(text).simple(),
			rows: async (text) => [...(await sql.unsafe(text))],
			close: () => sql.end({ timeout: 5 })
		};
	}
	const db = await openPgliteDir(target.dir, { unsafeNoFsync: target.unsafeNoFsync });
	return {
		exec: (text) => db.exec(text),
		rows: async (text) => (await db.query(text)).rows,
		close: () => db.close()
	};
}

/** Applies the app's migrations, exactly as the server does at start-up. */
export async function migrate(target) {
	const folder = path.join(APP_DIR, 'drizzle');
	if (target.url) {
		const { default: postgres } = await import('postgres');
		const { drizzle } = await import('drizzle-orm/postgres-js');
		const { migrate: run } = await import('drizzle-orm/postgres-js/migrator');
		const client = postgres(target.url, { max: 1, onnotice: () => {} });
		await run(drizzle({ client }), { migrationsFolder: folder });
		await client.end();
	} else {
		const { drizzle } = await import('drizzle-orm/pglite');
		const { migrate: run } = await import('drizzle-orm/pglite/migrator');
		const client = await openPgliteDir(target.dir, { unsafeNoFsync: target.unsafeNoFsync });
		await run(drizzle({ client }), { migrationsFolder: folder });
		await client.close();
	}
}

/** Creates a fresh database on the server of `baseUrl` and returns its URL. */
export async function createDatabase(baseUrl, name) {
	const { default: postgres } = await import('postgres');
	const sql = postgres(baseUrl, { max: 1, onnotice: () => {} });
	try {
		await sql.unsafe(`create database "${name}"`);
	} finally {
		await sql.end();
	}
	const url = new URL(baseUrl);
	url.pathname = `/${name}`;
	return url.toString();
}

export async function dropDatabase(baseUrl, name) {
	const { default: postgres } = await import('postgres');
	const sql = postgres(baseUrl, { max: 1, onnotice: () => {} });
	try {
		await sql.unsafe(`drop database if exists "${name}" with (force)`);
	} finally {
		await sql.end();
	}
}

const base32 = (bytes) => {
	const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
	let bits = 0;
	let value = 0;
	let out = '';
	for (const byte of bytes) {
		value = (value << 8) | byte;
		bits += 8;
		while (bits >= 5) {
			out += alphabet[(value >>> (bits - 5)) & 31];
			bits -= 5;
		}
	}
	if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
	return out;
};

/** A user with a session made the way the app makes them (token id.secret, SHA-256 of the secret stored). */
export function makeUser(username) {
	const sessionId = base32(randomBytes(15));
	const secret = base32(randomBytes(20));
	return {
		id: randomUUID(),
		username,
		sessionId,
		secretHash: createHash('sha256').update(secret).digest('hex'),
		cookie: `session=${sessionId}.${secret}`
	};
}

export function makePair(a, b) {
	return { id: randomUUID(), a, b, pairKey: [a.id, b.id].sort().join(':') };
}

function chunks(list, size) {
	const out = [];
	for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
	return out;
}

const quote = (s) => `'${String(s).replace(/'/g, "''")}'`;

/** Inserts users (with `passwordHash`), their sessions, and the conversations between pairs. */
export async function seedUsers(sql, users, pairs, passwordHash) {
	for (const part of chunks(users, 500)) {
		await sql.exec(
			`insert into users (id, username, password_hash) values ${part
				.map((u) => `(${quote(u.id)}, ${quote(u.username)}, ${quote(passwordHash)})`)
				.join(',')};
			insert into sessions (id, secret_hash, user_id, created_at, last_verified_at) values ${part
				.map((u) => `(${quote(u.sessionId)}, '\\x${u.secretHash}'::bytea, ${quote(u.id)}, now(), now())`)
				.join(',')};`
		);
	}
	for (const part of chunks(pairs, 500)) {
		await sql.exec(
			`insert into conversations (id, pair_key) values ${part.map((p) => `(${quote(p.id)}, ${quote(p.pairKey)})`).join(',')};
			insert into conversation_members (conversation_id, user_id) values ${part
				.map((p) => `(${quote(p.id)}, ${quote(p.a.id)}), (${quote(p.id)}, ${quote(p.b.id)})`)
				.join(',')};`
		);
	}
}

/**
 * Appends `count` messages (alternating senders) to the pair's conversation, with the matching
 * per-user events, as the app would have written them. Assumes each user's only conversation is
 * this one, so a user's event cursor equals the conversation's seq. `readUpTo` sets how far
 * both members have read (unread counts are part of what pages compute).
 */
export async function seedHistory(sql, pair, count, { readUpTo = count, chunk = 250_000 } = {}) {
	const [{ last }] = await sql.rows(`select last_seq as last from conversations where id = ${quote(pair.id)}`);
	const start = Number(last);
	const clientA = randomUUID();
	const clientB = randomUUID();
	for (let from = start + 1; from <= start + count; from += chunk) {
		const to = Math.min(start + count, from + chunk - 1);
		await sql.exec(
			`insert into messages (id, conversation_id, seq, sender_id, client_id, client_seq, body, created_at)
			select gen_random_uuid(), ${quote(pair.id)}, g,
				case when g % 2 = 1 then ${quote(pair.a.id)}::uuid else ${quote(pair.b.id)}::uuid end,
				case when g % 2 = 1 then ${quote(clientA)}::uuid else ${quote(clientB)}::uuid end,
				(g + 1) / 2,
				'Seeded message ' || g || ': the quick brown fox jumps over the lazy dog, again and again.',
				now() - (${start + count} - g) * interval '1 second'
			from generate_series(${from}, ${to}) g;
			insert into user_events (user_id, seq, type, conversation_id, message_id, created_at)
			select u.id, m.seq, 'message', m.conversation_id, m.id, m.created_at
			from messages m cross join (values (${quote(pair.a.id)}::uuid), (${quote(pair.b.id)}::uuid)) u(id)
			where m.conversation_id = ${quote(pair.id)} and m.seq between ${from} and ${to};`
		);
	}
	const end = start + count;
	await sql.exec(
		`update conversations set last_seq = ${end}, last_activity_at = now() where id = ${quote(pair.id)};
		update users set event_seq = ${end} where id in (${quote(pair.a.id)}, ${quote(pair.b.id)});
		update conversation_members set delivered_seq = ${end}, read_seq = ${Math.min(end, readUpTo)}
			where conversation_id = ${quote(pair.id)};`
	);
}
