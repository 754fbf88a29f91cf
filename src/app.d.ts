import type { Session } from '$lib/server/session';
import type { User } from '$lib/types';

declare global {
	namespace App {
		interface Locals {
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
