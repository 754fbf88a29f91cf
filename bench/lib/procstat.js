/**
 * CPU time and resident memory of a process, read from /proc the way `top` does, so the figures
 * are the server's own and not the load generator's.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

let ticks;
function clockTicks() {
	if (ticks === undefined) {
		try {
			ticks = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
		} catch {
			ticks = 100;
		}
	}
	return ticks;
}

/** User + system CPU seconds used so far by `pid` (0 if it is gone). */
export function cpuSeconds(pid) {
	try {
		const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
		// The command name may contain spaces; fields after ") " are positional.
		const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
		return (Number(fields[11]) + Number(fields[12])) / clockTicks();
	} catch {
		return 0;
	}
}

/** Resident set size in bytes (0 if the process is gone). */
export function rssBytes(pid) {
	try {
		const status = readFileSync(`/proc/${pid}/status`, 'utf8');
		const match = /VmRSS:\s+(\d+) kB/.exec(status);
		return match ? Number(match[1]) * 1024 : 0;
	} catch {
		return 0;
	}
}

/** Whole-machine busy fraction between two samples of /proc/stat (how noisy the box was). */
export function machineSample() {
	const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
	const values = line.trim().split(/\s+/).slice(1).map(Number);
	const idle = values[3] + (values[4] ?? 0);
	const total = values.reduce((a, b) => a + b, 0);
	return { idle, total };
}

export function machineBusy(before, after) {
	const total = after.total - before.total;
	return total > 0 ? 1 - (after.idle - before.idle) / total : 0;
}

/** Samples RSS every `intervalMs` and remembers the peak, until stopped. */
export function rssSampler(pid, intervalMs = 250) {
	let peak = rssBytes(pid);
	const timer = setInterval(() => {
		peak = Math.max(peak, rssBytes(pid));
	}, intervalMs);
	return {
		stop() {
			clearInterval(timer);
			peak = Math.max(peak, rssBytes(pid));
			return peak;
		}
	};
}
