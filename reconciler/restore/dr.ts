import type { KubeClient } from '../kube/client.ts';
import { factsOf, openCatalog } from '../catalog/index.ts';
import type { GitSource } from '../git/source.ts';
import { compileTip, runRestore, type RestoreOutcome, type RestoreRequest } from './run.ts';
import { selectRestorePoint } from './select.ts';

export interface DrRestoreRequest extends Pick<RestoreRequest, 'moverImage' | 'cofferNamespace' | 'env' | 'signal' | 'log' | 'waitTimeoutMs' | 'existing' | 'transforms' | 'wait' | 'runLease'> {
  source: GitSource;
  /** The cluster to restore into. */
  client: KubeClient;
  /** The lost cluster, as named in the catalog. */
  fromCluster: string;
  /** Name of the new cluster in the catalog (default: the repo's coffer.yaml cluster). */
  targetCluster?: string;
  policy?: string;
}

/**
 * Disaster recovery of a whole cluster: the latest Succeeded restore point of every namespace the lost cluster
 * protected (optionally of one policy), restored one namespace after the other into the target cluster. Needs only
 * the Git repository (plan + catalog) and the profiles' repositories, plus the repository key Secret in the target.
 * A namespace that fails does not stop the others; each is recorded as its own RestoreResult.
 */
export async function runDrRestore(req: DrRestoreRequest): Promise<{ namespace: string; restorePoint?: string; phase: string; outcome?: RestoreOutcome; error?: string }[]> {
  const plan = await compileTip(req.source);
  const targetCluster = req.targetCluster ?? plan.config.cluster;
  const catalog = openCatalog({ source: req.source, cluster: targetCluster, branch: plan.config.catalog.branch, catalogDir: plan.config.catalog.path });
  // Chosen from the index's summaries: a new machine reads no document until a restore needs one (and, from an HTTP
  // remote, fetches only the catalog branch's tip — BranchWriter's shallow first fetch).
  const page = await catalog.listRestorePoints({ cluster: req.fromCluster, ...(req.policy ? { policy: req.policy } : {}) });
  const points = page.items.map((s) => ({ path: s.path, doc: factsOf(s) }));
  const namespaces = [...new Set(points.filter((p) => p.doc.spec.phase === 'Succeeded').map((p) => p.doc.spec.namespace))].sort();
  const out: { namespace: string; restorePoint?: string; phase: string; outcome?: RestoreOutcome; error?: string }[] = [];
  for (const namespace of namespaces) {
    if (req.signal?.aborted) break;
    try {
      const rp = selectRestorePoint(points, { ref: 'latest', namespace, ...(req.policy ? { policy: req.policy } : {}) }).doc;
      req.log?.(`${namespace}: restoring ${rp.metadata.name}`);
      const outcome = await runRestore({ ...req, plan, catalog, restorePoint: { ref: rp.metadata.name, namespace, policy: rp.spec.policy }, sourceCluster: req.fromCluster, targetCluster });
      out.push({ namespace, restorePoint: rp.metadata.name, phase: outcome.result.spec.phase, outcome });
    } catch (e) {
      out.push({ namespace, phase: 'Failed', error: (e as Error).message });
    }
  }
  return out;
}
