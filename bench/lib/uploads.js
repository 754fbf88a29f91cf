/**
 * The upload scenarios, for `npm run bench` (`--only=uploads`) and bench/attachments-memory.js:
 * one large file at a time, many files at once, and many photos at once (each re-encoded and
 * thumbnailed). Each is timed (MiB/s, or uploads/s for photos) while the server's RSS is sampled
 * every 50 ms; the RSS figures are the peak above the server's idle RSS, taken once before the
 * first measured upload and after a warm-up upload of each kind (so first-use costs, such as
 * loading libvips, are not counted as the price of an upload). With several targets (Duet and the
 * bare baseline) the scenarios alternate between them, so drift on a busy machine hits both alike.
 */
import path from 'node:path';
import { cpuSeconds, rssBytes, rssSampler } from './procstat.js';
import { ROOT } from './server.js';
import { forkChild, median, sleep } from './util.js';

export const MiB = 1024 * 1024;

export const UPLOADS_FULL = {
	bigBytes: 25 * MiB,
	bigRepeats: 3,
	concurrent: 20,
	concurrentMinBytes: 1 * MiB,
	concurrentMaxBytes: 5 * MiB,
	rounds: 2,
	photos: 20,
	/** A 12-megapixel camera photo. */
	photo: { width: 4000, height: 3000 },
	photoRounds: 1
};

/**
 * Quick mode keeps the counts (concurrency is what memory per upload is about) and the one 25 MiB
 * file (once), but smaller files at once (three rounds, as one round of them is over in a second
 * and so at the mercy of whatever else the machine does) and 1-megapixel photos: PGlite stores a
 * few MiB/s here.
 */
export const UPLOADS_QUICK = {
	...UPLOADS_FULL,
	bigRepeats: 1,
	concurrentMinBytes: MiB / 8,
	concurrentMaxBytes: MiB / 2,
	rounds: 3,
	photo: { width: 1200, height: 900 }
};

/** Sizes spread evenly from the smallest to the largest, so every run uploads the same bytes. */
export function concurrentSizes(p) {
	const { concurrent: count, concurrentMinBytes: lo, concurrentMaxBytes: hi } = p;
	return Array.from({ length: count }, (_, i) => lo + Math.round((i * (hi - lo)) / Math.max(1, count - 1)));
}

export function uploadClient() {
	return forkChild(path.join(ROOT, 'bench/load/uploads.js'));
}

/**
 * Runs `rounds` uploads of one kind against every target, round by round in turn, sampling each
 * target's RSS and CPU throughout (the target waiting for its turn uses next to none of either).
 */
async function measure(client, targets, rounds, request) {
	const state = targets.map((t) => ({ t, before: rssBytes(t.pid), cpu0: cpuSeconds(t.pid), sampler: rssSampler(t.pid, 50), runs: [] }));
	try {
		for (let i = 0; i < rounds; i++) {
			// Who goes first alternates too, so neither always follows the other's writes.
			for (const s of i % 2 ? [...state].reverse() : state) {
				s.runs.push(await client.call('upload', { target: request.photos ? s.t.photo : s.t.file, ...request }));
			}
		}
	} finally {
		for (const s of state) s.peak = s.sampler.stop();
	}
	return state.map(({ t, before, cpu0, peak, runs }) => {
		const cpu = cpuSeconds(t.pid) - cpu0;
		const bytes = runs.reduce((a, r) => a + r.bytes, 0);
		return {
			rounds,
			uploads: runs[0].uploads,
			bytes: runs[0].bytes,
			ms: median(runs.map((r) => r.ms)),
			mibPerSecond: median(runs.map((r) => r.mibPerSecond)),
			uploadsPerSecond: median(runs.map((r) => r.uploads / (r.ms / 1000))),
			all: runs.map((r) => r.ms),
			rssBefore: before,
			rssPeak: peak,
			rssAboveIdle: peak - t.idleRss,
			perUpload: (peak - t.idleRss) / runs[0].uploads,
			serverCpuSeconds: cpu,
			serverCpuMsPerMiB: (cpu * 1000) / (bytes / MiB)
		};
	});
}

/**
 * `targets`: `[{name, pid, file: {origin, path, cookie?, conversationId}, photo: {…same}}]`.
 * Returns `{[name]: {idleRss, one, concurrent, photos}}` plus `photoBytes`; `report(name, scenario, r)`
 * hears of each result as it comes.
 */
export async function uploadScenarios(client, targets, p, report = () => {}) {
	const sizes = concurrentSizes(p);
	const { photoBytes } = await client.call('prepare', { sizes: [p.bigBytes, ...sizes, MiB], photo: p.photo });
	for (const t of targets) {
		await client.call('upload', { target: t.file, sizes: [MiB] });
		await client.call('upload', { target: t.photo, photos: 1 });
	}
	// What the warm-up left behind settles (the server returns its buffers) before idle is read.
	await sleep(1000);
	const out = { photoBytes, photo: p.photo };
	for (const t of targets) {
		t.idleRss = rssBytes(t.pid);
		out[t.name] = { idleRss: t.idleRss };
	}
	const scenarios = [
		['one', p.bigRepeats, { sizes: [p.bigBytes] }],
		['concurrent', p.rounds, { sizes }],
		['photos', p.photoRounds, { photos: p.photos }]
	];
	for (const [scenario, rounds, request] of scenarios) {
		const results = await measure(client, targets, rounds, request);
		targets.forEach((t, i) => {
			out[t.name][scenario] = results[i];
			report(t.name, scenario, results[i]);
		});
	}
	return out;
}

export function describeUpload(name, scenario, r) {
	const mib = (bytes) => (bytes / MiB).toFixed(0);
	const speed = scenario === 'photos' ? `${r.uploadsPerSecond.toFixed(2)} photos/s` : `${r.mibPerSecond.toFixed(0)} MiB/s`;
	return (
		`  ${name.padEnd(8)} ${scenario.padEnd(10)} ${r.uploads} × ${(r.bytes / r.uploads / MiB).toFixed(1)} MiB avg: ${speed} ` +
		`(${(r.ms / 1000).toFixed(2)} s, median of ${r.rounds}); RSS peak ${mib(r.rssPeak)} MiB = +${mib(r.rssAboveIdle)} above idle ` +
		`(${(r.perUpload / MiB).toFixed(1)} MiB per upload in flight); server CPU ${r.serverCpuMsPerMiB.toFixed(1)} ms/MiB`
	);
}
