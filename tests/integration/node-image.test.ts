/**
 * The Docker image's Node is written once, in the Dockerfile, and `npm run test:node-image` runs the
 * suites on exactly that release: these guard both halves of that promise.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { expect, test } from 'vitest';

const pinned = /^ARG NODE_IMAGE=node:(\d+\.\d+\.\d+)-/m.exec(readFileSync('Dockerfile', 'utf8'))?.[1];

test('the Dockerfile pins an exact Node release, which CI can fetch and test', () => {
	expect(pinned, 'ARG NODE_IMAGE=node:X.Y.Z-… in the Dockerfile').toMatch(/^\d+\.\d+\.\d+$/);
	// The package.json engines floor must not exclude the image's own Node.
	expect(Number(pinned!.split('.')[0])).toBeGreaterThanOrEqual(20);
});

test.skipIf(!process.env.DUET_NODE_IMAGE_RUN)('under test:node-image, the suite and the servers it spawns run on that release', () => {
	expect(process.version).toBe(`v${pinned}`);
	// Integration servers are spawned with process.execPath: the same binary.
	expect(execFileSync(process.execPath, ['--version']).toString().trim()).toBe(`v${pinned}`);
});
