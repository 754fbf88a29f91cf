/**
 * How far each running upload is, for the bubbles: in memory only (a reload restarts the request
 * anyway), set by the leader tab and relayed to the others over the tab channel.
 */
export class UploadProgress {
	/** Upload id → fraction sent, 0…1; absent when not running. */
	fractions = $state<Record<string, number>>({});

	set(id: string, fraction: number | null): void {
		if (fraction === null) delete this.fractions[id];
		else this.fractions[id] = fraction;
	}
}
