/** The name of a user's local database, apart from Dexie so that pages without it can name it. */
export function dbName(userId: string): string {
	return `duet-${userId}`;
}
