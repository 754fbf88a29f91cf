/**
 * PGlite on a directory, made durable: PostgreSQL's syncs reach the disk, so a commit that PGlite
 * has answered survives a power cut or an OS crash, as on a PostgreSQL server.
 *
 * PGlite 0.5 is not durable on Node as shipped, on three counts (read in its dist, seen under
 * strace: not one fsync or fdatasync system call in a whole run):
 * - its default start parameters carry `-F`, so `fsync = off`;
 * - even with `fsync = on`, the Emscripten runtime turns fdatasync (PostgreSQL's default
 *   `wal_sync_method` on Linux) into a no-op that only checks the descriptor;
 * - and fsync into a no-op on NODEFS, whose streams have no `fsync` operation.
 * So we turn fsync back on, have PostgreSQL sync its WAL with fsync, and give NODEFS an fsync
 * that calls the host's: one fsync system call per commit, plus checkpoints' data files.
 */
import { existsSync, readdirSync, closeSync, fsyncSync, openSync, constants } from 'node:fs';
import path from 'node:path';
import type { PGlite, PGliteOptions } from '@electric-sql/pglite';

/** `SHOW wal_sync_method` on a durable database: the one method whose syscall reaches the host. */
export const WAL_SYNC_METHOD = 'fsync';

interface NodeFsModule {
	NODEFS: {
		stream_ops: Record<string, unknown>;
		realPath(node: unknown): string;
		tryFSOperation<T>(fn: () => T): T;
	};
}

/** The options that open `dir` durably; `fresh` says PGlite is about to create the cluster there. */
export async function durableOptions(dir: string): Promise<{ options: PGliteOptions; fresh: boolean }> {
	const { PGlite } = await import('@electric-sql/pglite');
	const { NodeFS } = await import('@electric-sql/pglite/nodefs');

	class DurableNodeFS extends NodeFS {
		async init(pg: PGlite, opts: Parameters<InstanceType<typeof NodeFS>['init']>[1]) {
			const result = await super.init(pg, opts);
			const preRun = result.emscriptenOpts.preRun ?? [];
			result.emscriptenOpts.preRun = [...preRun, (mod) => addFsync(mod as unknown as NodeFsModule)];
			return result;
		}
	}

	return {
		fresh: !existsSync(path.join(dir, 'PG_VERSION')),
		options: {
			fs: new DurableNodeFS(dir),
			// Later `-c` settings override the defaults' `-F`; appending keeps PGlite's other defaults.
			startParams: [...PGlite.defaultStartParams, '-c', 'fsync=on', '-c', `wal_sync_method=${WAL_SYNC_METHOD}`]
		}
	};
}

/**
 * Every NODEFS stream shares one `stream_ops` object, so one assignment covers every file. A host
 * error becomes the errno PostgreSQL sees, and PostgreSQL answers a failed fsync with a PANIC
 * rather than carry on with data that may not be on disk.
 */
function addFsync(mod: NodeFsModule): void {
	const nodefs = mod.NODEFS;
	nodefs.stream_ops.fsync = (stream: { nfd?: number; node: unknown }) => {
		nodefs.tryFSOperation(() => {
			// A stream without a host descriptor (a directory, on some Emscripten versions) by path.
			if (stream.nfd === undefined) syncPath(nodefs.realPath(stream.node));
			else fsyncSync(stream.nfd);
		});
		return 0;
	};
}

/**
 * PGlite creates a cluster by copying initdb's files in through plain writes that PostgreSQL never
 * syncs (it syncs only what it wrote itself), so a power cut soon after the first start could lose
 * catalog files that no WAL record can restore. Sync the whole tree once, files before directories,
 * then the parent that holds the new directory's name.
 */
export function syncNewCluster(dir: string): void {
	syncTree(path.resolve(dir));
	syncPath(path.dirname(path.resolve(dir)));
}

function syncTree(dir: string): void {
	for (const entry of readdirSync(dir, { withFileTypes: true })) {
		const full = path.join(dir, entry.name);
		if (entry.isDirectory()) syncTree(full);
		else if (entry.isFile()) syncPath(full);
	}
	syncPath(dir);
}

function syncPath(file: string): void {
	const fd = openSync(file, constants.O_RDONLY);
	try {
		fsyncSync(fd);
	} finally {
		closeSync(fd);
	}
}
