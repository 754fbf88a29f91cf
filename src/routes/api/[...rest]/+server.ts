import { AppError } from '$lib/errors';
import { errorResponse } from '$lib/server/http';
import type { RequestHandler } from './$types';

/** Unknown API paths answer in the protocol's error shape rather than with an HTML page. */
const notFound: RequestHandler = () => errorResponse(new AppError('not_found', 'There is no such API endpoint.'));

export const GET = notFound;
export const POST = notFound;
export const PUT = notFound;
export const PATCH = notFound;
export const DELETE = notFound;
