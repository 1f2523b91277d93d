/**
 * The start-up sweep: what a run left when its Coffer died mid-move (SIGKILL, a lost node) — mover Jobs, their
 * credentials Secrets and PVCs, snapshot hand-offs, volumes caught between the two claims of a restore hand-back.
 * All of it carries `app.kubernetes.io/managed-by=coffer` and a `coffer.dev/run` label. It runs when the controller
 * takes the Lease (start-up, and again after losing it): no run of the loop or the API moves data then, because both
 * move data only while holding that Lease. Each sweep that found something is a Kubernetes Event (reason
 * LeftoversSwept, through kube/events.ts) and a log line; every sweep feeds the `coffer_sweep_*` metrics.
 */
import { isNotFound, type KubeClient } from '../kube/client.ts';
import type { EventRecorder } from '../kube/events.ts';
import type { KubeObject } from '../kube/types.ts';
import { discardVolume, RECLAIM_ANNOTATION } from './handback.ts';
import { RUN_LABEL } from './mover.ts';
import { runIsAlive } from './run-lease.ts';

export const LEFTOVER_SELECTOR = `app.kubernetes.io/managed-by=coffer,${RUN_LABEL}`;
const SNAPSHOTS = 'snapshot.storage.k8s.io/v1';

/** What one sweep removed, by kind, and the runs it came from. */
export interface SweepResult {
  removed: Record<string, number>;
  runs: string[];
  /** Volumes already bound to their target claim: only the hand-back's last step (policy, labels) was redone. */
  finished: string[];
  /** Runs whose Lease is still renewed (a `coffer backup` from a workstation, run-lease.ts): their objects were kept. */
  kept?: string[];
  errors: string[];
}

/** The sweep's one-line summary (Event message and log line). */
export function describeSweep(r: SweepResult): string {
  const parts = Object.entries(r.removed).filter(([, n]) => n > 0).map(([k, n]) => `${n} ${k}`);
  const what = parts.length ? `removed ${parts.join(', ')}` : 'removed nothing';
  return `swept leftovers of interrupted run(s) ${r.runs.join(', ') || '(none)'}: ${what}${r.finished.length ? `; finished the hand-back of ${r.finished.join(', ')}` : ''}${r.kept?.length ? `; kept the objects of live run(s) ${r.kept.join(', ')} (their run Lease is renewed)` : ''}${r.errors.length ? `; ${r.errors.length} error(s): ${r.errors.join('; ')}` : ''}`;
}

/**
 * Removes every Coffer mover leftover: Jobs, claims and Secrets wherever they are (`restore files --into-pvc` copies
 * through a temporary claim and a Job next to its target), the hand-off snapshots in `namespace` (the mover
 * namespace), and the cluster-scoped objects of hand-offs and hand-backs. A volume whose hand-back already reached its
 * target claim is the application's: it gets its reclaim policy back and is kept.
 */
export async function sweepLeftovers(client: KubeClient, namespace: string, opts: { isAlive?: (run: string) => Promise<boolean> } = {}): Promise<SweepResult> {
  const result: SweepResult = { removed: {}, runs: [], finished: [], errors: [] };
  const runs = new Set<string>();
  const list = async (api: string, plural: string, ns?: string): Promise<KubeObject[]> => {
    try {
      return (await client.list(api, plural, ns, { labelSelector: LEFTOVER_SELECTOR })).filter((o) => !o.metadata.deletionTimestamp);
    } catch (e) {
      // A cluster without the snapshot API has no snapshot leftovers.
      if (isNotFound(e)) return [];
      throw e;
    }
  };
  const remove = async (api: string, plural: string, ns: string | undefined, o: KubeObject, how: () => Promise<void> = () => client.delete(api, plural, ns, o.metadata.name)) => {
    try {
      await how();
      result.removed[plural] = (result.removed[plural] ?? 0) + 1;
      runs.add(o.metadata.labels?.[RUN_LABEL] ?? '?');
    } catch (e) {
      result.errors.push(`${plural} ${ns ? `${ns}/` : ''}${o.metadata.name}: ${(e as Error).message}`);
    }
  };
  // Everything is listed before anything is deleted (the garbage collector removes what a Job owns once it goes).
  // Credentials first, then Jobs (their pods go with them), what they mounted, the snapshots behind the PVCs.
  const found: [string, string, KubeObject[]][] = [];
  for (const [api, plural, ns] of [['v1', 'secrets', undefined], ['batch/v1', 'jobs', undefined], ['v1', 'persistentvolumeclaims', undefined], [SNAPSHOTS, 'volumesnapshots', namespace], [SNAPSHOTS, 'volumesnapshotcontents', undefined]] as const) {
    found.push([api, plural, await list(api, plural, ns)]);
  }
  const pvs = await list('v1', 'persistentvolumes');
  // A run that still renews its run Lease is alive somewhere (a workstation's coffer backup): its objects stay.
  const runOf = (o: KubeObject) => o.metadata.labels?.[RUN_LABEL] ?? '?';
  const live = new Set<string>();
  if (opts.isAlive) {
    const candidates = [...new Set([...found.flatMap(([, , objects]) => objects), ...pvs].map(runOf))].sort();
    // A run whose Lease cannot be read is kept: sweeping a live run's credentials is worse than waiting for the next sweep.
    const alive = await Promise.all(candidates.map((run) => opts.isAlive!(run).catch(() => true)));
    candidates.forEach((run, i) => alive[i] && live.add(run));
    if (live.size) result.kept = [...live];
  }
  for (const [api, plural, objects] of found) for (const o of objects) if (!live.has(runOf(o))) await remove(api, plural, o.metadata.namespace, o);
  for (const pv of pvs) {
    if (live.has(runOf(pv))) continue;
    const policy = pv.metadata.annotations?.[RECLAIM_ANNOTATION];
    if (!policy) continue;
    const ref = (pv.spec as { claimRef?: { namespace?: string; name?: string; uid?: string } } | undefined)?.claimRef;
    const claim = ref?.namespace && ref.namespace !== namespace && ref.name ? await client.find('v1', 'persistentvolumeclaims', ref.namespace, ref.name) : undefined;
    if (claim && (claim.spec as { volumeName?: string } | undefined)?.volumeName === pv.metadata.name) {
      const labels = Object.fromEntries(Object.keys(pv.metadata.labels ?? {}).filter((k) => k === RUN_LABEL || k.startsWith('app.kubernetes.io/') || k.startsWith('coffer.dev/')).map((k) => [k, null]));
      await client.mergePatch('v1', 'persistentvolumes', undefined, pv.metadata.name, { metadata: { labels, annotations: { [RECLAIM_ANNOTATION]: null } }, spec: { persistentVolumeReclaimPolicy: policy } });
      result.finished.push(`${pv.metadata.name} → ${ref!.namespace}/${ref!.name}`);
      runs.add(pv.metadata.labels?.[RUN_LABEL] ?? '?');
      continue;
    }
    await remove('v1', 'persistentvolumes', undefined, pv, () => discardVolume(client, pv.metadata.name, policy));
  }
  result.runs = [...runs].sort();
  return result;
}

/**
 * One sweep as the controller runs it: sweep, and when anything was found, an Event (through `events`: Coffer's
 * Deployment in a pod, else the mover namespace) and a log line. `onSweep` sees every sweep — also one that found
 * nothing, and a failed one as a result with its error — for the `coffer_sweep_*` metrics. Failures are logged and
 * never stop the controller (the next acquisition of the Lease sweeps again).
 */
export async function sweepOnAcquire(client: KubeClient, o: { namespace: string; events: EventRecorder; log?: (message: string) => void; onSweep?: (r: SweepResult) => void }): Promise<SweepResult | undefined> {
  let r: SweepResult;
  try {
    r = await sweepLeftovers(client, o.namespace, { isAlive: (run) => runIsAlive({ client, namespace: o.namespace, run }) });
  } catch (e) {
    o.log?.(`sweep of ${o.namespace} failed: ${(e as Error).message}`);
    o.onSweep?.({ removed: {}, runs: [], finished: [], errors: [(e as Error).message] });
    return undefined;
  }
  o.onSweep?.(r);
  if (!r.runs.length && !r.errors.length && !r.kept?.length) return r;
  const message = describeSweep(r);
  o.log?.(`${o.namespace}: ${message}`);
  await o.events.record(r.errors.length ? 'Warning' : 'Normal', 'LeftoversSwept', message);
  return r;
}
