// A second process writing the catalog: `tsx catalog-race-worker.ts <source> <worker-id> <count> <branch>`.
// Each worker records <count> restore points into the same repository as the other workers, as fast as it can.
import { openSource } from '../../reconciler/git/source.ts';
import { openCatalog } from '../../reconciler/catalog/index.ts';
import { backup } from './catalog-fixtures.ts';

const [source, worker, count, branch] = process.argv.slice(2) as [string, string, string, string];
const src = await openSource({ source, env: process.env, ...(process.env.COFFER_CACHE_DIR ? { cacheDir: process.env.COFFER_CACHE_DIR } : {}) });
const catalog = openCatalog({ source: src, cluster: 'dev', branch, author: { name: `worker ${worker}`, email: `w${worker}@coffer.test` } });
let rebased = 0;
for (let i = 0; i < Number(count); i++) {
  const { run, rp } = backup({ namespace: `ns-${worker}`, policy: 'daily', start: new Date(Date.UTC(2026, 0, 1, 0, i)), suffix: `w${worker}x${i}` });
  const res = await catalog.recordBackup(run, rp);
  if (res.attempts > 1) rebased++;
}
process.stdout.write(JSON.stringify({ worker, rebased }) + '\n');
