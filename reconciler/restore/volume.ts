import { createHash } from 'node:crypto';
import type { KubeClient } from '../kube/client.ts';
import type { KubeObject } from '../kube/types.ts';
import { tail } from '../blueprint/types.ts';
import { kubeName, labelValue } from '../volumes/names.ts';
import type { PodPlacement } from './placement.ts';
import type { MoverIdentity } from '../volumes/identity.ts';
import { DEFAULT_MOVER_TIMEOUT_MS, jobLog, moverSecretAndJob, MoverError, RUN_LABEL, waitForMoverJob, type MoverRepository } from '../volumes/mover.ts';

/** The restored PVC is mounted here, so the snapshot's `data/` directory (the backup mover read `/data`) lands on it. */
export const RESTORE_ROOT = '/restore';

export interface RestoreMoverOptions {
  namespace: string;
  /** The new (empty) PVC to fill; it must exist and not be mounted by any workload yet. */
  pvc: string;
  snapshotId: string;
  repository: MoverRepository;
  runId: string;
  image?: string;
  timeoutMs?: number;
  signal?: AbortSignal;
  log?: (m: string) => void;
  /**
   * Granular restore: only these snapshot paths (`data/<path in the volume>`), written over the PVC in place; the PVC
   * may hold data. Files outside them are never touched.
   */
  include?: string[];
  /** Where the mover must run so the workload that mounts the claim can use it afterwards (`placement.ts`). */
  placement?: PodPlacement;
  /** With `include`: stop before writing anything when one of them already exists in the PVC (for `data`: a PVC with anything but lost+found). */
  refuseExisting?: boolean;
  /** Who the mover runs as (the restored workload's identity, `moverIdentity`). */
  identity?: MoverIdentity;
  /** The Job's (and Secret's) name; default `restoreMoverName(pvc, runId)`. */
  name?: string;
}

/** The line a refusing mover prints for each included path that already exists in the PVC (`/` = the non-empty PVC). */
export const EXISTS_MARKER = 'coffer-restore: exists:';

/** Shell lines (positional parameters = the includes): print EXISTS_MARKER for each include that exists under /restore and exit 3 if any did. */
export const REFUSE_EXISTING = [
  'found=',
  'for p in "$@"; do',
  `  if [ "$p" = data ]; then [ -z "$(ls -A ${RESTORE_ROOT}/data | grep -vx lost+found)" ] || { echo "${EXISTS_MARKER} /"; found=1; }`,
  `  elif [ -e "${RESTORE_ROOT}/$p" ] || [ -L "${RESTORE_ROOT}/$p" ]; then echo "${EXISTS_MARKER} /\${p#data/}"; found=1; fi`,
  'done',
  '[ -z "$found" ] || exit 3',
];

/**
 * Runs in the mover image's /bin/sh (positional parameters = the includes): refuse if any include exists, then exec
 * `coffer repo restore … --include P…`. Checked in the same pod that writes, so nothing is written when it refuses.
 */
function refuseExistingScript(snapshotId: string): string {
  if (!/^[0-9a-f]+$/.test(snapshotId)) throw new Error(`snapshot id "${snapshotId}" is not hexadecimal`);
  return [
    ...REFUSE_EXISTING,
    'for p in "$@"; do set -- "$@" --include "$p"; shift; done',
    `exec coffer repo restore ${snapshotId} ${RESTORE_ROOT} --output json "$@"`,
  ].join('\n');
}

/** What `coffer repo restore --output json` reported. */
export interface RestoreMoverResult {
  files: number;
  bytes: number;
  job: string;
}

/**
 * The mirror of the backup mover as pure data: a Secret with the repository credentials and a Job that mounts the new
 * PVC at /restore/data and runs `coffer repo restore SNAP /restore` in the same image. A filesystem repository is
 * mounted exactly as the backup mover mounts it (hostPath or PVC at /repository).
 */
export function restoreMoverObjects(opts: RestoreMoverOptions): { secret: KubeObject; job: KubeObject } {
  const name = opts.name ?? restoreMoverName(opts.pvc, opts.runId);
  return moverSecretAndJob({
    name,
    namespace: opts.namespace,
    labels: restoreMoverLabels(opts.pvc, opts.runId),
    repository: opts.repository,
    repositoryReadOnly: true,
    data: { volume: { name: 'target', persistentVolumeClaim: { claimName: opts.pvc } }, mount: { name: 'target', mountPath: `${RESTORE_ROOT}/data` } },
    container:
      opts.include?.length && opts.refuseExisting
        ? { command: ['/bin/sh', '-c', refuseExistingScript(opts.snapshotId), 'coffer-restore', ...opts.include] }
        : { args: ['repo', 'restore', opts.snapshotId, RESTORE_ROOT, '--output', 'json', ...(opts.include ?? []).flatMap((p) => ['--include', p])] },
    ...(opts.image ? { image: opts.image } : {}),
    ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}),
    ...(opts.placement ? { placement: { ...opts.placement } } : {}),
    ...(opts.identity ? { identity: opts.identity } : {}),
  });
}

/** The labels of a restore mover's objects (and of a hand-back's claim and volume): the sweep finds them by these. */
export function restoreMoverLabels(pvc: string, runId: string): Record<string, string> {
  return { 'app.kubernetes.io/managed-by': 'coffer', 'app.kubernetes.io/component': 'restore-mover', [RUN_LABEL]: labelValue(runId), 'coffer.dev/pvc': labelValue(pvc) };
}

export function restoreMoverName(pvc: string, runId: string): string {
  const suffix = runId.slice(-6);
  const name = kubeName(`coffer-restore-${pvc}`, suffix);
  if (name.length <= 52) return name;
  const h = createHash('sha256').update(pvc).digest('hex').slice(0, 6);
  return kubeName(`coffer-restore-${pvc}`.slice(0, 52 - suffix.length - h.length - 2).replace(/-+$/, '') + `-${h}`, suffix);
}

/** The last JSON object line of the mover log that looks like restore statistics. */
export function parseRestoreOutput(log: string): { files: number; bytes: number; errors: string[] } | undefined {
  const lines = log.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!.trim();
    if (!line.startsWith('{')) continue;
    try {
      const v = JSON.parse(line) as { files?: unknown; bytes?: unknown; errors?: unknown };
      if (typeof v.files === 'number' && typeof v.bytes === 'number') return { files: v.files, bytes: v.bytes, errors: Array.isArray(v.errors) ? v.errors.map(String) : [] };
    } catch {
      /* not the result line */
    }
  }
  return undefined;
}

/**
 * Fills one new PVC (or, with `include`, some paths of an existing one) from a repository snapshot through a Job,
 * waits for it, reads its result from the pod log and deletes the Job and Secret whatever happened. The PVC stays: it
 * is the restored volume.
 */
export async function runRestoreMover(client: KubeClient, opts: RestoreMoverOptions): Promise<RestoreMoverResult> {
  const { secret, job } = restoreMoverObjects(opts);
  const ns = opts.namespace;
  const name = job.metadata.name;
  try {
    await client.create('v1', 'secrets', ns, secret);
    const created = await client.create('batch/v1', 'jobs', ns, job);
    await client.mergePatch('v1', 'secrets', ns, secret.metadata.name, { metadata: { ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name, uid: created.metadata.uid, blockOwnerDeletion: false }] } });
    opts.log?.(`restore mover ${ns}/${name}: snapshot ${opts.snapshotId.slice(0, 12)} → PVC ${opts.pvc}`);
    const outcome = await waitForMoverJob(client, ns, name, { what: `restore mover ${ns}/${name}`, timeoutMs: opts.timeoutMs ?? DEFAULT_MOVER_TIMEOUT_MS, ...(opts.signal ? { signal: opts.signal } : {}) });
    const log = await jobLog(client, ns, name);
    if (outcome === 'Failed') throw new MoverError(`restore mover ${ns}/${name} for PVC ${opts.pvc} failed${log ? `; last lines of its log:\n${tail(log)}` : ' (no log)'}`, tail(log));
    const r = parseRestoreOutput(log);
    if (!r) throw new MoverError(`restore mover ${ns}/${name} completed without a JSON result line${log ? `; log ends with:\n${tail(log)}` : ''}`, tail(log));
    if (r.errors.length) throw new MoverError(`restore mover ${ns}/${name} for PVC ${opts.pvc}: ${r.errors.length} error(s): ${r.errors.slice(0, 3).join('; ')}`);
    return { files: r.files, bytes: r.bytes, job: name };
  } finally {
    for (const [api, plural, n] of [['batch/v1', 'jobs', name], ['v1', 'secrets', secret.metadata.name]] as const) {
      await client.delete(api, plural, ns, n).catch((e) => opts.log?.(`cleanup of ${plural} ${ns}/${n} failed: ${(e as Error).message}`));
    }
  }
}

