import { json } from '$lib/server/http';

export const GET = () => json({ status: 'ok' });
