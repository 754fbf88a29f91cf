/**
 * PGlite on a directory, made durable: PostgreSQL's syncs reach the disk, so a commit that PGlite
 * has answered survives a power cut or an OS crash, as on a PostgreSQL server. Plain JavaScript so
 * that the scripts and the benchmark, which run without a build, open PGlite exactly as the app does.
 *
 * PGlite 0.5 is not durable on Node as shipped, on three counts (read in its dist, seen under
 * strace: not one fsync or fdatasync system call in a whole run):
 * - its default start parameters carry `-F`, so `fsync = off`;
 * - even with `fsync = on`, the Emscripten runtime turns fdatasync (PostgreSQL's default
 *   `wal_sync_method` on Linux) into a no-op that only checks the descriptor;
 * - and fsync into a no-op on NODEFS, whose streams have no `fsync` operation.
 * So we turn fsync back on, have PostgreSQL sync its WAL with fsync, and give NODEFS an fsync
 * that calls the host's: one fsync system call per commit, plus checkpoints' data files.
 * Renames reach the host as one rename(2), and PostgreSQL's durable_rename syncs the directory
 * after it through the same fsync, so a file replaced by rename is never half there either.
 */
import { closeSync, constants, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';

/** `SHOW wal_sync_method` on a durable database: the one method whose syscall reaches the host. */
export const WAL_SYNC_METHOD = 'fsync';

/**
 * How PGlite is opened: on `dir` (undefined: in memory), from `template` when the cluster is new.
 * @typedef {{ dir?: string, unsafeNoFsync?: boolean, template?: string }} PgliteOptions
 */

/**
 * A new cluster is made from `template` (a data directory dumped at build time, already migrated:
 * scripts/pglite-template.js) instead of by initdb, which costs PGlite a second WebAssembly
 * instance and several seconds. Migrations still run after, so a template older than them is fine.
 * @param {PgliteOptions} options
 */
export async function openPglite({ dir, unsafeNoFsync = false, template }) {
	if (dir) return openPgliteDir(dir, { unsafeNoFsync, template });
	const { PGlite } = await import('@electric-sql/pglite');
	const client = new PGlite({ loadDataDir: templateBlob(template), startParams: [...PGlite.defaultStartParams, ...SMALL_MEMORY] });
	await client.waitReady;
	return client;
}

/** @param {string | undefined} template */
function templateBlob(template) {
	return template && existsSync(template) ? new Blob([readFileSync(template)]) : undefined;
}

/**
 * PGlite serves one connection, so PostgreSQL's buffers need not be sized for many: its WebAssembly
 * memory grows to what they fill and never shrinks.
 */
const SMALL_MEMORY = ['-c', 'shared_buffers=16MB', '-c', 'temp_buffers=1MB', '-c', 'wal_buffers=1MB', '-c', 'maintenance_work_mem=16MB'];

/**
 * Opens PGlite on `dir`, creating it if needed, and waits until it is ready. `unsafeNoFsync`
 * opens it as PGlite ships, unsynced (PGLITE_UNSAFE_NO_FSYNC, see config.ts).
 * @param {string} dir
 * @param {{ unsafeNoFsync?: boolean, template?: string }} [options]
 * @returns {Promise<import('@electric-sql/pglite').PGlite>}
 */
export async function openPgliteDir(dir, { unsafeNoFsync = false, template } = {}) {
	const { PGlite } = await import('@electric-sql/pglite');
	mkdirSync(dir, { recursive: true });
	const loadDataDir = existsSync(path.join(dir, 'PG_VERSION')) ? undefined : templateBlob(template);
	if (unsafeNoFsync) {
		const client = new PGlite(dir, { loadDataDir, startParams: [...PGlite.defaultStartParams, ...SMALL_MEMORY] });
		await client.waitReady;
		return client;
	}
	const { NodeFS } = await import('@electric-sql/pglite/nodefs');
	class DurableNodeFS extends NodeFS {
		/**
		 * @param {Parameters<InstanceType<typeof NodeFS>['init']>[0]} pg
		 * @param {Parameters<InstanceType<typeof NodeFS>['init']>[1]} opts
		 */
		async init(pg, opts) {
			const result = await super.init(pg, opts);
			const preRun = result.emscriptenOpts.preRun ?? [];
			result.emscriptenOpts.preRun = [...preRun, (mod) => addFsync(/** @type {NodeFsModule} */ (/** @type {unknown} */ (mod)))];
			return result;
		}
	}
	const client = new PGlite({
		fs: new DurableNodeFS(dir),
		loadDataDir,
		// Later `-c` settings override the defaults' `-F`; appending keeps PGlite's other defaults.
		startParams: [...PGlite.defaultStartParams, ...SMALL_MEMORY, '-c', 'fsync=on', '-c', `wal_sync_method=${WAL_SYNC_METHOD}`]
	});
	await client.waitReady;
	await syncCluster(dir);
	return client;
}

/**
 * @typedef {{ nfd?: number, node: unknown }} Stream
 * @typedef {{ NODEFS: { stream_ops: Record<string, unknown>, realPath(node: unknown): string, tryFSOperation(fn: () => void): void } }} NodeFsModule
 */

/**
 * Every NODEFS stream shares one `stream_ops` object, so one assignment covers every file. A host
 * error becomes the errno PostgreSQL sees, and PostgreSQL answers a failed fsync with a PANIC
 * rather than carry on with data that may not be on disk.
 * @param {NodeFsModule} mod
 */
function addFsync(mod) {
	const nodefs = mod.NODEFS;
	nodefs.stream_ops.fsync = (/** @type {Stream} */ stream) => {
		nodefs.tryFSOperation(() => {
			// A stream without a host descriptor (a directory, on some Emscripten versions) by path.
			if (stream.nfd === undefined) syncPath(nodefs.realPath(stream.node));
			else fsyncSync(stream.nfd);
		});
		return 0;
	};
}

/**
 * What PostgreSQL did not write itself it never syncs, and two kinds of such writes may still be
 * only in the page cache at start: a new cluster, which PGlite creates by copying files in (from
 * initdb or the template; a power cut could then lose catalog files that no WAL record restores),
 * and whatever an earlier run wrote unsynced (PGlite before this, or PGLITE_UNSAFE_NO_FSYNC=1). So
 * sync the whole tree at every start, files before directories, then the parent that holds the
 * directory's name, as PostgreSQL itself does after a crash (SyncDataDirectory). About 1,000 files:
 * synced a few at a time (libuv's threads), since one after the other each new file waits for a
 * journal commit of its own, seconds in all on a busy disk.
 * @param {string} dir
 */
async function syncCluster(dir) {
	const root = path.resolve(dir);
	/** @type {string[]} */
	const files = [];
	/** @type {string[]} */
	const dirs = [];
	collect(root, files, dirs);
	await Promise.all(files.map(syncPathAsync));
	await Promise.all(dirs.map(syncPathAsync));
	syncPath(path.dirname(root));
}

/**
 * @param {string} dir
 * @param {string[]} files
 * @param {string[]} dirs
 */
function collect(dir, files, dirs) {
	for (const entry of readdirSync(dir, { withFileTypes: true })) {
		const full = path.join(dir, entry.name);
		if (entry.isDirectory()) collect(full, files, dirs);
		else if (entry.isFile()) files.push(full);
	}
	dirs.push(dir);
}

/** @param {string} file */
async function syncPathAsync(file) {
	const handle = await open(file, 'r');
	try {
		await handle.sync();
	} finally {
		await handle.close();
	}
}

/** @param {string} file */
function syncPath(file) {
	const fd = openSync(file, constants.O_RDONLY);
	try {
		fsyncSync(fd);
	} finally {
		closeSync(fd);
	}
}
