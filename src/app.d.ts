import type { Services } from '$lib/server/services';
import type { Session } from '$lib/server/session';
import type { User } from '$lib/types';

declare global {
	namespace App {
		interface Locals {
			/** Set by the `handle` hook before any route runs. */
			services: Services;
			user: User | null;
			session: Session | null;
		}
		/** adapter-node's; absent in dev. */
		interface Platform {
			req?: import('node:http').IncomingMessage;
		}
		interface Error {
			message: string;
			code?: string;
		}
	}
}

export {};
