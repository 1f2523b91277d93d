import type { KubeClient } from '../../reconciler/kube/client.ts';
import type { Finding } from './local.ts';
import { allowedBy, COFFER_NEEDS, type ResourceRule } from './rbac.ts';

/** Skew beyond this breaks schedules, Lease expiry and token validity; NTP keeps machines within milliseconds. */
export const MAX_SKEW_MS = 30_000;

/**
 * The cluster half of `coffer doctor`: reachable and its version, clock skew against the API server's Date header,
 * what the current identity may do (a SelfSubjectRulesReview in Coffer's namespace, against what Coffer needs), and
 * the CSI snapshot classes volume backups use. Each check is one Finding; a failure of one does not stop the others.
 */
export async function clusterFindings(client: KubeClient, opts: { namespace: string; now?: () => number }): Promise<Finding[]> {
  const now = opts.now ?? Date.now;
  const out: Finding[] = [];
  let serverDate: number | undefined;
  const before = now();
  try {
    const v = await client.request<{ gitVersion?: string }>('GET', '/version', { timeoutMs: 10_000, onHeaders: (h) => (serverDate = h.date ? Date.parse(h.date) : undefined) });
    out.push({ check: 'cluster', ok: true, detail: `${client.serverUrl} answers, Kubernetes ${v?.gitVersion ?? 'unknown version'}` });
  } catch (e) {
    out.push({ check: 'cluster', ok: false, detail: (e as Error).message, fix: 'check KUBECONFIG / --context, or start a local one: coffer sandbox up -d' });
    return out; // nothing else can be checked
  }
  const after = now();
  if (serverDate !== undefined && !Number.isNaN(serverDate)) {
    // The Date header has one-second resolution: the local clock is compared with the request's midpoint, and a
    // second of slack is granted for the truncation.
    const skew = serverDate - (before + after) / 2;
    const off = Math.abs(skew) - 1000;
    out.push(
      off > MAX_SKEW_MS
        ? { check: 'clock', ok: false, detail: `this machine's clock is ${Math.round(Math.abs(skew) / 1000)} s ${skew > 0 ? 'behind' : 'ahead of'} the API server`, fix: 'enable time sync: sudo timedatectl set-ntp true' }
        : { check: 'clock', ok: true, detail: `within ${Math.max(1, Math.ceil(Math.abs(skew) / 1000))} s of the API server` },
    );
  } else out.push({ check: 'clock', ok: false, optional: true, detail: 'the API server sent no Date header; skew not measured' });

  try {
    const review = await client.request<{ status?: { resourceRules?: ResourceRule[]; incomplete?: boolean; evaluationError?: string } }>('POST', '/apis/authorization.k8s.io/v1/selfsubjectrulesreviews', {
      body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectRulesReview', spec: { namespace: opts.namespace } },
      timeoutMs: 10_000,
    });
    const rules = review?.status?.resourceRules ?? [];
    const missing = COFFER_NEEDS.filter((n) => !allowedBy(rules, n));
    out.push(
      missing.length
        ? {
            check: 'permissions',
            ok: false,
            detail: `the current identity may not ${missing.map((n) => `${n.verb} ${n.group ? `${n.resource}.${n.group}` : n.resource} (${n.why})`).join('; ')}${review?.status?.incomplete ? ' (the review was incomplete)' : ''}`,
            fix: 'kubectl apply -k deploy/overlays/production and run as its ServiceAccount, or bind the coffer-backup, coffer-mover and coffer-restore ClusterRoles to you',
          }
        : { check: 'permissions', ok: true, detail: `the current identity may do all ${COFFER_NEEDS.length} things Coffer needs in ${opts.namespace}` },
    );
  } catch (e) {
    out.push({ check: 'permissions', ok: false, optional: true, detail: `could not ask the API server what this identity may do: ${(e as Error).message}` });
  }

  try {
    const classes = await client.list('snapshot.storage.k8s.io/v1', 'volumesnapshotclasses');
    out.push(
      classes.length
        ? { check: 'snapshots', ok: true, detail: `VolumeSnapshotClasses: ${classes.map((c) => `${c.metadata.name} (${String((c as { driver?: unknown }).driver ?? '?')})`).join(', ')}` }
        : { check: 'snapshots', ok: false, optional: true, detail: 'no VolumeSnapshotClass: volumes are copied without a crash-consistent CSI snapshot', fix: 'install your CSI driver\'s snapshot class (see its docs) and the external-snapshotter' },
    );
  } catch (e) {
    out.push({ check: 'snapshots', ok: false, optional: true, detail: `CSI snapshots are not served (${(e as Error).message.split(':').pop()!.trim()}): volumes are backed up without snapshots`, fix: 'install the external-snapshotter CRDs and controller' });
  }
  return out;
}
