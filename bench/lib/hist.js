/**
 * Latency histograms (HdrHistogram, microsecond resolution, 3 significant digits) that children
 * record and ship to the orchestrator in HdrHistogram's compressed base64 form, to be merged there.
 */
import hdr from 'hdr-histogram-js';

export function newHist() {
	return hdr.build({
		lowestDiscernibleValue: 1,
		highestTrackableValue: 600_000_000,
		numberOfSignificantValueDigits: 3,
		autoResize: true
	});
}

/** Records a latency given in (fractional) milliseconds. */
export function recordMs(hist, ms) {
	hist.recordValue(Math.max(1, Math.round(ms * 1000)));
}

export const encode = (hist) => hdr.encodeIntoCompressedBase64(hist);

export function merge(encoded) {
	const total = newHist();
	for (const item of encoded) if (item) total.add(hdr.decodeFromCompressedBase64(item));
	return total;
}

const ms = (us) => Math.round(us) / 1000;

/** p50/p90/p99/p99.9/max in milliseconds (null when empty). */
export function summary(hist) {
	if (!hist || hist.totalCount === 0) return null;
	return {
		count: hist.totalCount,
		p50: ms(hist.getValueAtPercentile(50)),
		p90: ms(hist.getValueAtPercentile(90)),
		p99: ms(hist.getValueAtPercentile(99)),
		p999: ms(hist.getValueAtPercentile(99.9)),
		max: ms(hist.maxValue),
		mean: ms(hist.mean)
	};
}
