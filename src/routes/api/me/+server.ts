import { api, json, requireUser } from '$lib/server/http';

export const GET = api((event) => json({ user: requireUser(event) }));
