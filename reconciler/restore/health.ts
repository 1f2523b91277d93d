import type { KubeObject } from '../kube/types.ts';

/**
 * Whether a restored object is healthy, or why not (undefined = healthy, or a kind with no notion of health). Pure:
 * read from the object's status as the API server returns it.
 */
export function unhealthyReason(o: KubeObject): string | undefined {
  const group = o.apiVersion.includes('/') ? o.apiVersion.split('/')[0] : '';
  const spec = (o.spec ?? {}) as { replicas?: number };
  const st = (o.status ?? {}) as Record<string, unknown>;
  const num = (k: string) => (typeof st[k] === 'number' ? (st[k] as number) : 0);
  if (group === '' && o.kind === 'PersistentVolumeClaim') return st.phase === 'Bound' ? undefined : `not bound (phase ${String(st.phase ?? 'Pending')})`;
  if (group === 'apps' && (o.kind === 'Deployment' || o.kind === 'StatefulSet')) {
    const want = spec.replicas ?? 1;
    if (num('observedGeneration') < (o.metadata.generation ?? 0)) return 'not observed by its controller yet';
    return num('readyReplicas') >= want ? undefined : `${num('readyReplicas')}/${want} replicas ready`;
  }
  if (group === 'apps' && o.kind === 'DaemonSet') {
    const want = num('desiredNumberScheduled');
    return num('numberReady') >= want ? undefined : `${num('numberReady')}/${want} pods ready`;
  }
  if (group === 'batch' && o.kind === 'Job') {
    const conds = (st.conditions as { type: string; status: string; message?: string }[] | undefined) ?? [];
    const failed = conds.find((c) => c.type === 'Failed' && c.status === 'True');
    if (failed) return `failed${failed.message ? `: ${failed.message}` : ''}`;
    if ((spec as { suspend?: boolean }).suspend) return undefined;
    return conds.some((c) => c.type === 'Complete' && c.status === 'True') ? undefined : 'not complete';
  }
  return undefined;
}

/** Kinds whose health `--wait` checks. */
export function hasHealth(apiVersion: string, kind: string): boolean {
  return (apiVersion === 'v1' && kind === 'PersistentVolumeClaim') || (apiVersion.startsWith('apps/') && ['Deployment', 'StatefulSet', 'DaemonSet'].includes(kind)) || (apiVersion.startsWith('batch/') && kind === 'Job');
}
