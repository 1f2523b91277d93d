/**
 * One measured catalog read in a fresh process (no parsed-document cache, no warm isomorphic-git cache): the bench
 * spawns it per measurement (under /usr/bin/time for the peak RSS) and reads one JSON line from stderr: the operation's
 * own time and how many items it saw. Usage: catalog-child.ts GITDIR OP [ARG]; OP = list | namespace NS | policy P | json | compliance | dr (GITDIR: an HTTP URL).
 */
import { createWriteStream } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { main } from '../../cli/main.ts';
import { openCatalog } from '../../reconciler/catalog/index.ts';
import { openSource } from '../../reconciler/git/source.ts';
import { computeCompliance } from '../../reconciler/report/publish.ts';
import { benchPlan } from './catalog-plan.ts';

const [gitdir, op, arg] = process.argv.slice(2) as [string, string, string | undefined];
const started = performance.now();
const cpu0 = process.cpuUsage();
let items = 0;
if (op === 'json') {
  const out = createWriteStream('/dev/null');
  const code = await main(['restorepoints', '--source', gitdir, '--branch', 'coffer-catalog', '--cluster', 'bench', '-o', 'json'], {
    stdout: out,
    stderr: process.stderr,
    env: { ...process.env },
    cwd: process.cwd(),
  });
  await new Promise<void>((r) => out.end(r));
  if (code !== 0) throw new Error(`coffer restorepoints -o json exited ${code}`);
  items = -1;
} else if (op === 'dr') {
  // What `coffer dr restore` does before its first restore starts, from an HTTP remote into an empty cache: open the
  // source, list the lost cluster's summaries, pick the newest successful point of the first namespace, read its document.
  const source = await openSource({ source: gitdir, branch: 'coffer-catalog' });
  const catalog = openCatalog({ source, cluster: 'new' });
  const page = await catalog.listRestorePoints({ cluster: 'bench' });
  const first = page.items.filter((i) => i.namespace === page.items[0]?.namespace && i.phase === 'Succeeded').at(-1);
  const doc = first && (await catalog.snapshot(page.commit))!.document(first.path);
  if (!doc) throw new Error('dr: no restore point to start from');
  items = page.items.length;
} else {
  const catalog = openCatalog({ source: await openSource({ source: gitdir, branch: 'coffer-catalog' }), cluster: 'bench' });
  if (op === 'compliance') {
    const { plan, selected } = benchPlan(arg ? Number(arg) : 0);
    const report = await computeCompliance(catalog, plan, selected, new Date('2026-02-11T20:00:00Z'));
    items = report.spec.results.length;
  } else {
    // What `coffer restorepoints` (table, -o name) reads: the summaries, from the index.
    const filter = op === 'namespace' ? { namespace: arg! } : op === 'policy' ? { policy: arg! } : {};
    items = (await catalog.listRestorePoints(filter)).items.length;
  }
}
const ms = performance.now() - started;
const cpu = process.cpuUsage(cpu0);
process.stderr.write(`${JSON.stringify({ ms: Math.round(ms * 10) / 10, cpuMs: Math.round((cpu.user + cpu.system) / 100) / 10, items })}\n`);
