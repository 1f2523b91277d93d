/**
 * One measured Coffer step of `npm run bench:restore` in a fresh process, so its peak RSS (read by the bench from
 * /usr/bin/time) is Coffer's own and not the sandbox's, which runs in the bench process. Prints one JSON line on stderr.
 * Usage: restore-child.ts KUBECONFIG POLICY_REPO OP NS [ARGS]
 *   backup NS                       the reconciler's on-demand backup of NS (policy `hourly`)
 *   restore NS TARGET [full]        restore the latest point of NS into TARGET (objects only, or `full`: volumes + --wait)
 *   manifests NS TARGET FILE        the objects Coffer's plan creates, as one YAML 1.1 stream for `kubectl create -f`
 */
import { createWriteStream } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { stringify } from 'yaml';
import { openSource } from '../../reconciler/git/source.ts';
import { KubeClient } from '../../reconciler/kube/client.ts';
import { reconcileOnce } from '../../reconciler/reconcile.ts';
import { openCatalog } from '../../reconciler/catalog/index.ts';
import { openProfileRepository } from '../../reconciler/profile-repository.ts';
import { compileTip, openBundle, planRestoreStream, runRestore, selectRestorePoint } from '../../reconciler/restore/index.ts';

const [kubeconfigPath, repoDir, op, ns, target, extra] = process.argv.slice(2) as [string, string, string, string, string | undefined, string | undefined];
const client = new KubeClient({ kubeconfigPath });
const source = await openSource({ source: repoDir, env: {} });
const started = performance.now();
/** With --expose-gc (BENCH_LOG runs): the heap still in use after a full collection, i.e. what the restore holds. */
const liveHeap = () => {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return '';
  gc();
  return `, live heap ${Math.round(process.memoryUsage().heapUsed / 2 ** 20)} MiB`;
};
let out: Record<string, unknown>;
if (op === 'backup') {
  const r = await reconcileOnce({ source, client, now: () => new Date('2026-11-24T01:05:00Z'), env: {}, only: { policy: 'hourly', namespace: ns } });
  const run = r.runs[0];
  if (run?.run.status.phase !== 'Succeeded') throw new Error(`backup failed: ${run?.run.status.error}`);
  out = { objects: run.result?.summary.total, timings: run.result?.timings };
} else if (op === 'restore') {
  const full = extra === 'full';
  const r = await runRestore({
    source,
    client,
    restorePoint: { ref: 'latest', namespace: ns },
    ...(target !== ns ? { namespaceMapping: { [ns]: target! } } : {}),
    ...(full ? { wait: true, waitTimeoutMs: 600_000 } : { volumes: false, hooks: false }),
    env: {},
    ...(process.env.BENCH_LOG ? { log: (m: string) => console.error(`${Math.round(performance.now() - started)} ms rss ${Math.round(process.memoryUsage().rss / 2 ** 20)} MiB${liveHeap()}: ${m}`) } : {}),
  });
  if (r.result.spec.phase !== 'Succeeded') throw new Error(`restore ${r.result.spec.phase}: ${r.result.spec.errors?.slice(0, 5).join('; ')}`);
  const s = r.result.spec.summary;
  out = { created: s.created, skipped: s.skipped, failed: s.failed, volumes: r.execution.volumes.length, bytesRestored: r.execution.volumes.reduce((n, v) => n + (v.bytesRestored ?? 0), 0) };
} else if (op === 'manifests') {
  // runRestore's own steps up to the plan, then every planned object as it would be sent.
  const file = createWriteStream(extra!);
  let n = 0;
  const plan = await compileTip(source);
  const catalog = openCatalog({ source, cluster: plan.config.cluster, branch: plan.config.catalog.branch });
  const rp = selectRestorePoint(await catalog.readRestorePoints({ cluster: plan.config.cluster, namespace: ns }), { ref: 'latest', namespace: ns }).doc;
  const repo = await openProfileRepository(client, plan.profiles.find((p) => p.name === rp.spec.repository.profile)!, { env: {} });
  const bundle = await openBundle(repo.repo, rp.spec.repository.manifestSnapshot!);
  const restorePlan = await planRestoreStream(rp, bundle, { namespaceMapping: { [ns]: target! }, volumes: false });
  for (const p of restorePlan.objects) {
    // The default ServiceAccount exists in any new namespace (Coffer reports it as skipped); kubectl create would fail on it.
    if (p.object.kind === 'ServiceAccount' && p.object.metadata.name === 'default') continue;
    // YAML 1.1, which kubectl reads (`yes` must be quoted there).
    if (!file.write((n++ ? '---\n' : '') + stringify(p.load ? await p.load() : p.object, { version: '1.1' }))) await new Promise<void>((r) => file.once('drain', () => r()));
  }
  await new Promise<void>((r) => file.end(r));
  await bundle.close();
  await repo.close();
  out = { documents: n };
} else throw new Error(`unknown op ${op}`);
console.error(JSON.stringify({ ...out, seconds: Math.round(performance.now() - started) / 1000 }));
