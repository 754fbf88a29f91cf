import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createPostgresDatabase } from '../../../../tests/integration/harness';
import { openDatabase, type Database } from '../db';
import { conversations, members, users } from '../db/schema';
import { ConversationMembers } from './members';

const engines = process.env.TEST_DATABASE_URL ? ['pglite', 'postgres'] : ['pglite'];

describe.each(engines)('conversation members on %s', (engine) => {
	let database: Database;
	const people = [crypto.randomUUID(), crypto.randomUUID()];
	beforeAll(async () => {
		database = await openDatabase(engine === 'postgres' ? await createPostgresDatabase() : 'memory://', '');
		await database.db.insert(users).values(people.map((id) => ({ id, username: `m_${id.slice(0, 8)}`, passwordHash: 'x' })));
	});
	afterAll(async () => {
		await database.close();
	});

	async function createConversation(id: string) {
		await database.db.insert(conversations).values({ id, pairKey: `${id}` });
		await database.db.insert(members).values(people.map((userId) => ({ conversationId: id, userId })));
	}

	test('reads a conversation once, in id order, and answers later asks from memory', async () => {
		const id = crypto.randomUUID();
		await createConversation(id);
		const cache = new ConversationMembers(database.db);
		expect(await cache.of(id)).toEqual([...people].sort());
		// Gone from the database, still known: a 1:1 conversation's members never change.
		await database.db.delete(conversations);
		expect(await cache.of(id)).toEqual([...people].sort());
	});

	test('an unknown id has no members, and is read again once it exists; a malformed id is no error', async () => {
		const cache = new ConversationMembers(database.db);
		const id = crypto.randomUUID();
		expect(await cache.of(id)).toEqual([]);
		await createConversation(id);
		expect(await cache.of(id)).toEqual([...people].sort());
		expect(await cache.of("x' or 1=1 --")).toEqual([]);
	});

	test('loads many conversations in one go', async () => {
		const ids = [crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID()];
		for (const id of ids) await createConversation(id);
		const cache = new ConversationMembers(database.db);
		await cache.load(ids);
		for (const id of ids) expect(cache.get(id)).toEqual([...people].sort());
	});
});
