/**
 * How much of the query pool is taken, for /metrics (postgres.js keeps its own counts private):
 * every statement, transaction and batch the pool runs is tracked here from asking for a
 * connection until it is done, and each says at the moment of the count whether it has one.
 */
export interface PoolUseSnapshot {
	/** Connections taken; statements pipelined on one connection count once each, up to `size`. */
	inUse: number;
	/** Work that asked for a connection and has none yet. */
	waiting: number;
	size: number;
}

export class PoolUse {
	private readonly work = new Set<() => boolean>();

	constructor(readonly size: number) {}

	/** Tracks work that `held` says has a connection or waits for one; returns the release. */
	track(held: () => boolean): () => void {
		this.work.add(held);
		return () => this.work.delete(held);
	}

	snapshot(): PoolUseSnapshot {
		let held = 0;
		let waiting = 0;
		for (const has of this.work) {
			if (has()) held++;
			else waiting++;
		}
		return { inUse: Math.min(held, this.size), waiting, size: this.size };
	}
}
