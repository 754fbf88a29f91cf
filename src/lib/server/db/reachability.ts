/**
 * Whether PostgreSQL can be reached, as the last query found it. While it cannot, queries fail at
 * once instead of each waiting out its own deadline (a request making three queries in a row would
 * take three deadlines to fail), and a probe in the background finds the moment it is back.
 */
import { LINK_LOST_CODES } from '../failures';

export const UNREACHABLE = 'DATABASE_UNREACHABLE';

export class Reachability {
	private down = false;
	/** Waits in flight that would only run out their own deadlines if the database went away. */
	private readonly waiting = new Set<(error: Error) => void>();
	private timer?: ReturnType<typeof setTimeout>;
	private closed = false;

	constructor(
		/** One query straight to the pool, bounded by its own deadline. */
		private readonly probe: () => Promise<unknown>,
		private readonly intervalMs: number
	) {}

	get reachable(): boolean {
		return !this.down;
	}

	/** The error to fail with while the database cannot be reached. */
	error(): Error {
		return Object.assign(new Error('The database cannot be reached'), { code: UNREACHABLE });
	}

	/** A query failed: the link is lost only when nothing answered (a refused statement is an answer). */
	failed(error: unknown): void {
		const code = (error as { code?: unknown })?.code;
		if (typeof code !== 'string' || !LINK_LOST_CODES.has(code) || this.down || this.closed) return;
		this.down = true;
		// Deadlines run about as long everywhere, so a query sent a moment before the first one
		// ran out would wait out a deadline of its own: every wait in flight fails together.
		const waiting = [...this.waiting];
		this.waiting.clear();
		for (const fail of waiting) fail(this.error());
		this.schedule();
	}

	/**
	 * Registers a wait for an answer that fails with `fail` as soon as the database is found away
	 * (the work itself is not abandoned: its late result is dropped). Returns the release.
	 */
	watch(fail: (error: Error) => void): () => void {
		this.waiting.add(fail);
		return () => this.waiting.delete(fail);
	}

	succeeded(): void {
		this.down = false;
	}

	close(): void {
		this.closed = true;
		clearTimeout(this.timer);
	}

	private schedule() {
		this.timer = setTimeout(() => {
			this.probe().then(
				() => (this.down = false),
				() => {
					if (this.down && !this.closed) this.schedule();
				}
			);
		}, this.intervalMs);
		this.timer.unref?.();
	}
}
