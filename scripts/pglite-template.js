/**
 * The last step of `npm run build`: a fresh PGlite cluster, migrated, dumped as
 * build/pglite-template.tar.gz. The server makes a new cluster from it (pglite-durable.js) instead
 * of running initdb, which costs PGlite a second WebAssembly instance and most of a cold start.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { drizzle } from 'drizzle-orm/pglite';
import { migrate } from 'drizzle-orm/pglite/migrator';
import { read } from '../server/settings.js';

const out = path.join(read(process.env, 'BUILD_DIR'), 'pglite-template.tar.gz');
const pg = new PGlite();
await migrate(drizzle({ client: pg }), { migrationsFolder: path.resolve(read(process.env, 'MIGRATIONS_DIR')) });
// A checkpoint first, so the cluster starts without WAL to replay.
await pg.exec('checkpoint');
const dump = await pg.dumpDataDir('gzip');
writeFileSync(out, Buffer.from(await dump.arrayBuffer()));
await pg.close();
console.log(`Wrote ${out} (${(dump.size / 1024 / 1024).toFixed(1)} MiB)`);
