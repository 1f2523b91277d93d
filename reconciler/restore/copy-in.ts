/**
 * `coffer restore files --into-pvc` without credentials in the target namespace. The claim exists and may be in use,
 * so its volume cannot be filled elsewhere and handed over; instead the paths are restored into a claim in the mover
 * namespace, that volume is handed to a temporary claim next to the target (volumes/handback.ts), and a Job there —
 * no Secret, no repository, the identity of the workload that mounts the target — checks for existing paths and
 * copies the restored ones in (`cp -a`). The temporary claim and its volume are deleted afterwards.
 */
import type { KubeClient } from '../kube/client.ts';
import type { KubeObject } from '../kube/types.ts';
import { tail } from '../blueprint/types.ts';
import { discardVolume, populateAndHandBack } from '../volumes/handback.ts';
import { consumerPodSpec, moverIdentity } from '../volumes/identity.ts';
import { DEFAULT_MOVER_TIMEOUT_MS, jobLog, MoverError, moverJob, moverSecurityContext, volumePlacement, waitForMoverJob, type MoverRepository } from '../volumes/mover.ts';
import { REFUSE_EXISTING, RESTORE_ROOT, restoreMoverLabels, restoreMoverName, runRestoreMover, type RestoreMoverResult } from './volume.ts';

export interface CopyInOptions {
  /** The existing claim to write into. */
  pvc: KubeObject;
  snapshotId: string;
  /** Snapshot paths (`data`, `data/<path>`). */
  include: string[];
  refuseExisting: boolean;
  /** With `namespace`: the mover namespace. */
  repository: MoverRepository & { namespace: string };
  runId: string;
  image?: string;
  timeoutMs?: number;
  log?: (m: string) => void;
}

const FROM = '/from';

/**
 * The copy Job's script (positional parameters = the includes): the same refusal as the in-place mover's
 * (`EXISTS_MARKER` lines, exit 3, nothing written), then each path copied with owners, modes and times; a directory's
 * contents go into the existing directory rather than under it.
 */
export function copyScript(refuseExisting: boolean): string {
  return [
    'set -e',
    ...(refuseExisting ? REFUSE_EXISTING : []),
    'for p in "$@"; do',
    '  rel=${p#data}; rel=${rel#/}',
    `  src="${FROM}/$rel"; dst="${RESTORE_ROOT}/data/$rel"`,
    '  if [ -d "$src" ] && [ ! -L "$src" ]; then mkdir -p "$dst"; cp -a "$src/." "$dst/"',
    '  else mkdir -p "$(dirname "$dst")"; rm -rf "$dst"; cp -a "$src" "$dst"; fi',
    'done',
    'echo coffer-copy: done',
  ].join('\n');
}

/** The copy Job: the temporary claim read-only at /from, the target at /restore/data, as the workload, no Secret. */
export function copyJob(o: { name: string; namespace: string; from: string; to: string; include: string[]; refuseExisting: boolean; labels: Record<string, string>; security: ReturnType<typeof moverSecurityContext>; placement?: Record<string, unknown>; image?: string; timeoutMs?: number }): KubeObject {
  return moverJob({
    ...o,
    container: { command: ['/bin/sh', '-c', copyScript(o.refuseExisting), 'coffer-copy', ...o.include] },
    volumes: [
      { name: 'from', persistentVolumeClaim: { claimName: o.from, readOnly: true } },
      { name: 'target', persistentVolumeClaim: { claimName: o.to } },
    ],
    mounts: [
      { name: 'from', mountPath: FROM, readOnly: true },
      { name: 'target', mountPath: `${RESTORE_ROOT}/data` },
    ],
  });
}

/** Restores `include` into the existing claim `pvc` through the mover namespace (module comment). */
export async function copyIntoPvc(client: KubeClient, o: CopyInOptions): Promise<RestoreMoverResult> {
  const ns = o.pvc.metadata.namespace!;
  const claim = o.pvc.metadata.name;
  const name = restoreMoverName(`files-${claim}`, o.runId);
  const labels = restoreMoverLabels(claim, o.runId);
  const workload = consumerPodSpec(await client.list('v1', 'pods', ns), claim);
  // Both volumes must be usable from one node: the staging volume is made where the target's volume lives.
  const placement = await volumePlacement(client, o.pvc);
  const spec = (o.pvc.spec ?? {}) as { storageClassName?: string; resources?: { requests?: { storage?: string } } };
  const temporary: KubeObject = { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name, namespace: ns, labels }, spec: { ...(spec.storageClassName ? { storageClassName: spec.storageClassName } : {}), accessModes: ['ReadWriteOnce'], resources: { requests: { storage: spec.resources?.requests?.storage ?? '1Gi' } } } };
  const { result } = await populateAndHandBack(client, {
    claim: temporary,
    moverNamespace: o.repository.namespace,
    name,
    labels,
    fill: (staging) =>
      runRestoreMover(client, {
        namespace: o.repository.namespace,
        pvc: staging,
        name,
        snapshotId: o.snapshotId,
        repository: o.repository,
        runId: o.runId,
        include: o.include,
        identity: moverIdentity(workload, claim, 'new'),
        ...(placement ? { placement } : {}),
        ...(o.image ? { image: o.image } : {}),
        ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}),
        ...(o.log ? { log: o.log } : {}),
      }),
    ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}),
  });
  const job = `${name}-copy`;
  try {
    const security = moverSecurityContext({ writesData: true, hostPathRepository: !!o.repository.volume && 'hostPath' in o.repository.volume, identity: moverIdentity(workload, claim, 'existing') });
    await client.create('batch/v1', 'jobs', ns, copyJob({ name: job, namespace: ns, from: name, to: claim, include: o.include, refuseExisting: o.refuseExisting, labels, security, ...(placement ? { placement } : {}), ...(o.image ? { image: o.image } : {}), ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}) }));
    o.log?.(`copy job ${ns}/${job}: restored paths from ${name} → PVC ${claim}`);
    const outcome = await waitForMoverJob(client, ns, job, { what: `copy job ${ns}/${job}`, timeoutMs: o.timeoutMs ?? DEFAULT_MOVER_TIMEOUT_MS });
    if (outcome === 'Failed') {
      const log = await jobLog(client, ns, job);
      throw new MoverError(`copy job ${ns}/${job} for PVC ${claim} failed${log ? `; last lines of its log:\n${tail(log)}` : ' (no log)'}`, tail(log));
    }
    return { ...result, job };
  } finally {
    await client.delete('batch/v1', 'jobs', ns, job).catch(() => undefined);
    // The temporary claim and its volume, whatever its class's reclaim policy: the copy is all that is kept.
    const pv = ((await client.find('v1', 'persistentvolumeclaims', ns, name).catch(() => undefined))?.spec as { volumeName?: string } | undefined)?.volumeName;
    await client.delete('v1', 'persistentvolumeclaims', ns, name).catch(() => undefined);
    if (pv) await discardVolume(client, pv).catch((e) => o.log?.(`cleanup of volume ${pv} failed: ${(e as Error).message}`));
  }
}
