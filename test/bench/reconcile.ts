/**
 * `npm run bench:reconcile`: the reconciler's figures as JSON, each beside its anchor where the issue names one.
 * - commitToFirstBackup: a policy commit lands → reconcileOnce fetches, compiles, selects and starts the first backup.
 * - namespaceBackup: a namespace of 1,000 objects and 3 volumes (reconciler-kube's bench; anchor `kubectl get -o yaml`).
 * - catalogCommit: one restore point into a catalog of 10,000, against the git CLI doing the same commit (ratio).
 */
import * as fs from 'node:fs';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { demoPolicyRepo } from '../../cli/demo-app.ts';
import { openSource } from '../../reconciler/git/source.ts';
import { KubeClient } from '../../reconciler/kube/client.ts';
import { reconcileOnce } from '../../reconciler/reconcile.ts';
import { startSandbox } from '../../sandbox/index.ts';
import { runKubeBench } from '../reconciler/kube-bench.ts';
import { commitFiles, deploySampleApp } from '../reconciler/sample-app-fixture.ts';
import { runCatalogBench } from './reconcile-catalog.ts';

async function commitToFirstBackup(reps: number): Promise<Record<string, unknown>> {
  const work = mkdtempSync(join(tmpdir(), 'coffer-bench-reconcile-'));
  const sb = await startSandbox({ dir: join(work, 'sandbox') });
  try {
    const client = new KubeClient(sb.kubeConfig);
    await deploySampleApp(client, 'bench');
    const repoDir = join(work, 'policy-repo');
    fs.mkdirSync(join(work, 'repository'));
    const files = demoPolicyRepo(join(work, 'repository'), readFileSync(new URL('../../blueprints/sqlite.yaml', import.meta.url), 'utf8'));
    const samples: number[] = [];
    const total: number[] = [];
    for (let i = 0; i < reps; i++) {
      // Each rep is a new policy commit (a new policy name, so it is due at once), like a merged pull request.
      files['policies/shop.yaml'] = files['policies/shop.yaml']!.replace(/name: \S+/, `name: hourly-${i}`);
      await commitFiles(repoDir, files, `policy ${i}`);
      const t0 = performance.now();
      let started = 0;
      const source = await openSource({ source: repoDir, env: {} });
      await reconcileOnce({
        source,
        client,
        env: {},
        retention: false,
        log: (e) => {
          if (e.event === 'run-start' && !started) started = performance.now();
        },
      });
      samples.push(started - t0);
      total.push(performance.now() - t0);
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    return { reps, commitToFirstBackupStartMs: Math.round(median(samples)), commitToRestorePointCommittedMs: Math.round(median(total)), samplesMs: samples.map(Math.round) };
  } finally {
    await sb.stop();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

const { values } = parseArgs({ options: { reps: { type: 'string' }, 'restore-points': { type: 'string' }, objects: { type: 'string' } } });
const reps = Number(values.reps ?? 3);
const out = {
  bench: 'reconcile',
  commitToFirstBackup: await commitToFirstBackup(reps),
  namespaceBackup: await runKubeBench({ objects: Number(values.objects ?? 1000), volumes: 3, reps }),
  catalogCommit: await runCatalogBench({ restorePoints: Number(values['restore-points'] ?? 10_000), reps: Math.max(reps, 5) }),
};
process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
