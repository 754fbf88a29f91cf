/**
 * Rewrites the Markdown report of a result file (to stdout, or over bench/results/latest.md with
 * --write), e.g. after the report's layout changed:  node bench/report-md.js bench/results/<run>.json
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { markdown } from './lib/report.js';

const file = process.argv.slice(2).find((a) => !a.startsWith('--'));
if (!file) {
	console.error('usage: node bench/report-md.js RESULT.json [--write]');
	process.exit(2);
}
const md = markdown(JSON.parse(readFileSync(file, 'utf8')));
if (process.argv.includes('--write')) writeFileSync(path.join(import.meta.dirname, 'results/latest.md'), md);
else process.stdout.write(md + '\n');
