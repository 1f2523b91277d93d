import type { KubeClient } from '../kube/client.ts';
import type { KubeObject } from '../kube/types.ts';
import { TimeoutError, waitFor } from '../kube/wait.ts';
import { tail } from '../blueprint/types.ts';
import { handOffSnapshot, releaseHandOff, type HandedOffSnapshot } from './handoff.ts';
import { kubeName, labelValue } from './names.ts';
import { consumerPodSpec, moverIdentity, unreadableError, type MoverIdentity } from './identity.ts';

/** The default image of mover Jobs; the sandbox maps it to the local checkout. */
export const DEFAULT_MOVER_IMAGE = 'ghcr.io/coffer-dev/coffer:latest';
/** Where the volume's data appears inside the mover pod, and hence the path recorded in the repository snapshot. */
export const DATA_PATH = '/data';
/** Mount point of a filesystem repository inside the mover pod. */
export const REPOSITORY_MOUNT = '/repository';
export const RUN_LABEL = 'coffer.dev/run';
export const DEFAULT_MOVER_TIMEOUT_MS = 6 * 3600_000;

/** A mover Job failed or produced no result; the message carries the pod's log tail. */
export class MoverError extends Error {
  readonly code = 'E_MOVER';
  constructor(
    message: string,
    readonly logTail?: string,
  ) {
    super(message);
    this.name = 'MoverError';
  }
}

/**
 * Where the mover writes. For S3 the URL is enough (plus credentials in `env`); a filesystem repository must be
 * reachable from the pod, so give the volume that holds it (`hostPath` on a single node or the sandbox, or a PVC such
 * as an NFS share) and it is mounted at /repository.
 */
export interface MoverRepository {
  /** `s3://bucket/prefix` or `file:///…` as the reconciler sees it. */
  url: string;
  password: string;
  /** Extra environment for the mover (AWS_ACCESS_KEY_ID, COFFER_S3_ENDPOINT, …); stored in the run's Secret. */
  env?: Record<string, string>;
  /** For filesystem repositories: the volume holding the repository directory. */
  volume?: { hostPath: string } | { persistentVolumeClaim: string; subPath?: string };
  /**
   * Where backup movers run (Coffer's own namespace, where the repository key lives): the snapshot is handed off
   * there (handoff.ts), so the credentials Secret, the PVC and the Job never exist in the application's namespace.
   * Unset: in the application's namespace.
   */
  namespace?: string;
}

export interface MoverJobOptions {
  namespace: string;
  /** The application's PVC (for tags and naming). */
  pvc: KubeObject;
  /** Name of the ready VolumeSnapshot to export. */
  snapshot: string;
  /** Size for the temporary PVC (the snapshot's restoreSize, else the PVC's request). */
  restoreSize?: string;
  repository: MoverRepository;
  tags: Record<string, string>;
  runId: string;
  image?: string;
  /** Extra arguments for `coffer repo backup` (e.g. `--parent ID`). */
  extraArgs?: string[];
  /** Who the mover runs as (default: from the pods that mount the PVC, `consumerPodSpec`). */
  identity?: MoverIdentity;
  /** Node constraints (default: the PVC's volume's node affinity, `volumePlacement`). */
  placement?: Record<string, unknown>;
  timeoutMs?: number;
  signal?: AbortSignal;
  log?: (m: string) => void;
  /** Bytes the mover has read so far, from the progress lines of its log while it runs (about once a second). */
  onBytes?: (bytes: number) => void;
}

/** The JSON line `coffer repo backup --output json` prints. Fields beyond snapshotId are kept as-is. */
export interface MoverResult {
  snapshotId: string;
  stats: Record<string, number>;
  job: string;
  raw: Record<string, unknown>;
}

export interface MoverPodSpec {
  name: string;
  namespace: string;
  labels: Record<string, string>;
  repository: MoverRepository;
  /** The volume the mover reads or writes, and where it is mounted. */
  data: { volume: Record<string, unknown>; mount: Record<string, unknown> };
  /** Mount a PVC-held filesystem repository read-only (restores only read it). */
  repositoryReadOnly?: boolean;
  container: ({ args: string[] } | { command: string[] }) & { env?: { name: string; value: string }[] };
  image?: string;
  timeoutMs?: number;
  /** Node constraints for the mover pod (nodeSelector, affinity, tolerations), e.g. a restored workload's. */
  placement?: Record<string, unknown>;
  /** Who the mover runs as (restricted movers; identity.ts). */
  identity?: MoverIdentity;
}

/**
 * V8's young generation, capped for the main thread (worker threads get theirs from `resourceLimits`, memory.ts
 * `workerHeapLimits`). The CLI's entry sets the flag back to its default once the main isolate exists (cli/v8-flags.ts):
 * V8 refuses Node's built-in code cache while any flag differs from its default. Node's default lets
 * each isolate's two semi-spaces grow to 16 MiB: a small-file backup or restore allocates fast enough to reach it,
 * and that space stays resident. 30,000 files of 1–8 KiB, peak RSS default → 2 MiB → 1 MiB (load 14–18):
 * first backup 202 → 173 → 164 MiB, unchanged 108 → 105 → 100, 10% changed 152 → 141 → 129, restore 222 → 189 → 184,
 * check --read-data 156 → 149 → 138. 1 MiB cost a small-file restore ~30% more CPU, 2 MiB none measurable
 * (repository/FORMAT.md, "Peak RSS per phase").
 */
export const MOVER_NODE_OPTIONS = '--max-semi-space-size=2';

/**
 * Environment every mover container starts with: all are read once, before any of the mover's code runs, so they
 * can only be set here (repository/FORMAT.md); `npm run bench:mover` runs Coffer with this same environment.
 * - libuv's thread pool: a cold-cache first backup of 30,000 files of 1–8 KiB (16 small-file reads in flight, plus
 *   pack writes and hashing on the same pool) took a median 19.4 s with the default 4 threads, 18.8 s with 16 and
 *   15.6 s with 32, for ~7% more CPU-s.
 * - glibc's malloc arenas: two instead of one per thread (8 × cores); the seal and restore workers and libuv's pool
 *   otherwise each keep an arena of freed blob buffers. A 512 MiB mixed backup, two runs each: peak RSS 274/280 MiB
 *   vs 309/295, CPU unchanged. `MALLOC_MMAP_THRESHOLD_=1048576` saved more (239/243 MiB) but cost +1.2 system CPU-s
 *   per GiB, and is not set; measured again at 1, 2, 4 and 8 MiB (FORMAT.md, "Peak RSS, rss"): 20–45 MiB less on a
 *   first backup, +0.3–1.1 CPU-s per 512 MiB at every size.
 */
/**
 * A backup mover's own environment, beside MOVER_ENV: progress lines the reconciler reads from its log (COFFER_PROGRESS,
 * not a flag: an older mover image ignores it instead of refusing to start). bench:mover runs Coffer's backups with it.
 */
export const MOVER_BACKUP_ENV: readonly { name: string; value: string }[] = [{ name: 'COFFER_PROGRESS', value: 'json' }];

export const MOVER_ENV: readonly { name: string; value: string }[] = [
  { name: 'UV_THREADPOOL_SIZE', value: '32' },
  { name: 'MALLOC_ARENA_MAX', value: '2' },
  { name: 'NODE_OPTIONS', value: MOVER_NODE_OPTIONS },
];

/**
 * Requests and limits of every mover container. The request is what the scheduler reserves, so it follows the measured
 * peak with the default 160 MiB budget, whatever the volume size: 151–194 MiB for first backups (512 MiB mixed, one
 * 1 or 4 GiB file, 200,000 small files), ≤ 193 MiB for restores, ≤ 143 MiB for `check --read-data` (repository/FORMAT.md,
 * "Merged, measured quiet", 2026-12-07; it was 270–300 MiB, and 320Mi, before the seal ring and the index read one pack
 * at a time). A tighter cgroup limit lowers the budget (memory.ts), so a 256 MiB limit still completes.
 */
export const MOVER_RESOURCES = { requests: { cpu: '250m', memory: '256Mi' }, limits: { cpu: '2', memory: '2Gi' } };

/**
 * How movers run (README "Pod Security"). Pod Security `restricted`: non-root as the workload's identity (identity.ts),
 * no capabilities, no privilege escalation, the runtime's seccomp profile; fsGroup with OnRootMismatch so the kubelet
 * walks the volume only when its root is not already the group's. A filesystem repository on a `hostPath` already
 * needs a `privileged` namespace (no level but privileged admits hostPath) and is shared by movers of every uid, so
 * those movers run as root with only the capabilities their job needs (reading: DAC_OVERRIDE; writing: + CHOWN,
 * FOWNER, FSETID) and give every owner back.
 */
export function moverSecurityContext(o: { writesData: boolean; hostPathRepository: boolean; identity?: MoverIdentity }): { pod: Record<string, unknown>; container: Record<string, unknown> } {
  const seccompProfile = { type: 'RuntimeDefault' };
  if (o.hostPathRepository) {
    return {
      pod: { runAsUser: 0, runAsGroup: 0, seccompProfile },
      container: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'], add: o.writesData ? ['CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID'] : ['DAC_OVERRIDE'] } },
    };
  }
  const id = o.identity ?? moverIdentity(undefined, '', o.writesData ? 'new' : 'existing');
  return {
    pod: { runAsNonRoot: true, runAsUser: id.runAsUser, runAsGroup: id.runAsGroup, ...(id.fsGroup !== undefined ? { fsGroup: id.fsGroup, fsGroupChangePolicy: 'OnRootMismatch' } : {}), seccompProfile },
    container: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
  };
}


/**
 * The Secret and Job every mover (backup and restore) runs as: repository URL and password in a Secret read through
 * envFrom, a filesystem repository mounted at /repository, one container of the Coffer image, no retries, a deadline,
 * and a TTL so leftovers of a crashed reconciler clean themselves up. A mover whose data mount is writable restores.
 */
export function moverSecretAndJob(o: MoverPodSpec): { secret: KubeObject; job: KubeObject } {
  const repo = o.repository;
  const env: Record<string, string> = { ...(repo.env ?? {}), COFFER_REPOSITORY: repo.volume ? REPOSITORY_MOUNT : repo.url, COFFER_PASSWORD: repo.password };
  const secret: KubeObject = { apiVersion: 'v1', kind: 'Secret', metadata: { name: o.name, namespace: o.namespace, labels: o.labels }, type: 'Opaque', stringData: env };
  const volumes: Record<string, unknown>[] = [o.data.volume];
  const mounts: Record<string, unknown>[] = [o.data.mount];
  if (repo.volume) {
    volumes.push(
      'hostPath' in repo.volume
        ? { name: 'repository', hostPath: { path: repo.volume.hostPath, type: 'Directory' } }
        : { name: 'repository', persistentVolumeClaim: { claimName: repo.volume.persistentVolumeClaim, ...(o.repositoryReadOnly ? { readOnly: true } : {}) } },
    );
    mounts.push({ name: 'repository', mountPath: REPOSITORY_MOUNT, ...('subPath' in repo.volume && repo.volume.subPath ? { subPath: repo.volume.subPath } : {}) });
  }
  const security = moverSecurityContext({ writesData: !o.data.mount.readOnly, hostPathRepository: !!repo.volume && 'hostPath' in repo.volume, ...(o.identity ? { identity: o.identity } : {}) });
  const job = moverJob({ ...o, container: { ...o.container, envFrom: [{ secretRef: { name: o.name } }] }, volumes, mounts, security });
  return { secret, job };
}

/**
 * The Job of every mover pod (also the credential-less copy Job of restore/copy-in.ts): one container of the Coffer
 * image, no retries, a deadline, a TTL, no ServiceAccount token, requests and limits.
 */
export function moverJob(o: {
  name: string;
  namespace: string;
  labels: Record<string, string>;
  container: Record<string, unknown>;
  volumes: Record<string, unknown>[];
  mounts: Record<string, unknown>[];
  security: { pod: Record<string, unknown>; container: Record<string, unknown> };
  image?: string;
  timeoutMs?: number;
  placement?: Record<string, unknown>;
}): KubeObject {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: o.name, namespace: o.namespace, labels: o.labels },
    spec: {
      backoffLimit: 0,
      // A mover that hangs ends by itself even if the reconciler that waits for it died.
      activeDeadlineSeconds: Math.ceil((o.timeoutMs ?? DEFAULT_MOVER_TIMEOUT_MS) / 1000),
      // A leftover from a crashed reconciler disappears on its own a day later (taking its Secret and PVC along).
      ttlSecondsAfterFinished: 86400,
      template: {
        metadata: { labels: o.labels },
        spec: {
          restartPolicy: 'Never',
          automountServiceAccountToken: false,
          securityContext: o.security.pod,
          containers: [{ name: 'mover', image: o.image ?? DEFAULT_MOVER_IMAGE, ...o.container, env: [...((o.container.env as { name: string; value: string }[] | undefined) ?? []), ...MOVER_ENV], volumeMounts: o.mounts, securityContext: o.security.container, resources: MOVER_RESOURCES }],
          volumes: o.volumes,
          ...o.placement,
        },
      },
    },
  };
}

/** The objects one volume export creates, as pure data (table-tested; also what `kubectl get -o yaml` would show). */
export function moverObjects(opts: MoverJobOptions): { secret: KubeObject; pvc: KubeObject; job: KubeObject } {
  const pvcName = opts.pvc.metadata.name;
  const base = kubeName(`coffer-${pvcName}`, opts.runId);
  const labels = { 'app.kubernetes.io/managed-by': 'coffer', 'app.kubernetes.io/component': 'mover', [RUN_LABEL]: labelValue(opts.runId), 'coffer.dev/pvc': labelValue(pvcName) };
  const src = (opts.pvc.spec ?? {}) as { storageClassName?: string; accessModes?: string[]; volumeMode?: string; resources?: { requests?: { storage?: string } } };
  const size = opts.restoreSize ?? src.resources?.requests?.storage ?? '1Gi';
  const pvc: KubeObject = {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name: base, namespace: opts.namespace, labels },
    spec: {
      ...(src.storageClassName ? { storageClassName: src.storageClassName } : {}),
      accessModes: ['ReadWriteOnce'],
      ...(src.volumeMode ? { volumeMode: src.volumeMode } : {}),
      resources: { requests: { storage: size } },
      dataSource: { apiGroup: 'snapshot.storage.k8s.io', kind: 'VolumeSnapshot', name: opts.snapshot },
    },
  };
  const tagArgs = Object.entries(opts.tags).flatMap(([k, v]) => ['--tag', `${k}=${v}`]);
  const { secret, job } = moverSecretAndJob({
    name: base,
    namespace: opts.namespace,
    labels,
    repository: opts.repository,
    data: { volume: { name: 'data', persistentVolumeClaim: { claimName: base, readOnly: true } }, mount: { name: 'data', mountPath: DATA_PATH, readOnly: true } },
    container: { args: ['repo', 'backup', DATA_PATH, ...tagArgs, ...(opts.extraArgs ?? []), '--output', 'json'], env: [...MOVER_BACKUP_ENV] },
    ...(opts.image ? { image: opts.image } : {}),
    ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}),
    ...(opts.identity ? { identity: opts.identity } : {}),
    ...(opts.placement ? { placement: opts.placement } : {}),
  });
  return { secret, pvc, job };
}

/**
 * The mover's result: the last JSON object in its log carrying a snapshot id. `--output json` may print it compact
 * (one line) or indented (a `{` line through a `}` line); progress lines and warnings may precede it.
 */
export function parseMoverOutput(log: string): Record<string, unknown> | undefined {
  const lines = log.split('\n');
  const isResult = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && (typeof (v as { snapshotId?: unknown }).snapshotId === 'string' || typeof (v as { id?: unknown }).id === 'string');
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!.trimEnd();
    if (!line.startsWith('{')) continue;
    // Compact: the line itself.
    try {
      const v = JSON.parse(line) as unknown;
      if (isResult(v)) return v;
      continue;
    } catch {
      /* an indented object starts here, or a truncated line */
    }
    // Indented: from here to each later `}` line at column 0.
    for (let j = i + 1; j < lines.length; j++) {
      if (!lines[j]!.startsWith('}')) continue;
      try {
        const v = JSON.parse(lines.slice(i, j + 1).join('\n')) as unknown;
        if (isResult(v)) return v;
      } catch {
        /* keep extending */
      }
    }
  }
  return undefined;
}

/** Bytes read so far by a running mover: the newest `{"progress":{"bytes":N}}` line of its log (COFFER_PROGRESS=json). */
export function moverProgressBytes(log: string): number | undefined {
  const lines = log.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!.trim();
    if (!line.startsWith('{"progress":')) continue;
    try {
      const bytes = (JSON.parse(line) as { progress?: { bytes?: unknown } }).progress?.bytes;
      if (typeof bytes === 'number' && Number.isFinite(bytes) && bytes >= 0) return bytes;
    } catch {
      /* a line cut off by the log's tail: look further up */
    }
  }
  return undefined;
}

/**
 * Reads a running mover's log tail about once a second and reports the bytes it has read whenever they grew; stops
 * (and reports nothing more) when told. Errors are ignored: progress is best effort, the Job's outcome is what counts.
 */
function watchMoverProgress(client: KubeClient, ns: string, job: string, onBytes: (bytes: number) => void): { stop: () => void } {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let best = 0;
  let pod: string | undefined;
  const tick = async () => {
    pod ??= (await jobPod(client, ns, job).catch(() => undefined))?.metadata.name;
    const bytes = pod ? moverProgressBytes(await client.podLog(ns, pod, { container: 'mover', tailLines: 5 }).catch(() => '')) : undefined;
    if (stopped) return;
    if (bytes !== undefined && bytes > best) onBytes((best = bytes));
    timer = setTimeout(() => void tick(), 1000);
    timer.unref();
  };
  timer = setTimeout(() => void tick(), 1000);
  timer.unref();
  return {
    stop: () => {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

/**
 * Exports one VolumeSnapshot: a temporary PVC restored from it, a Secret with the repository credentials and a Job
 * running `coffer repo backup /data --output json`; waits for the Job, reads its result from the pod log, and
 * deletes all three whatever happened. A failed Job becomes a MoverError with the log tail.
 */
export async function runMoverJob(client: KubeClient, opts: MoverJobOptions): Promise<MoverResult> {
  const ns = opts.repository.namespace ?? opts.namespace;
  const away = ns !== opts.namespace;
  // moverObjects' name; in the mover namespace the handed-off VolumeSnapshot carries it too.
  const name = kubeName(`coffer-${opts.pvc.metadata.name}`, opts.runId);
  const identity = opts.identity ?? moverIdentity(consumerPodSpec(await client.list('v1', 'pods', opts.namespace), opts.pvc.metadata.name), opts.pvc.metadata.name, 'existing');
  const placement = opts.placement ?? (await volumePlacement(client, opts.pvc));
  const { secret, pvc, job } = moverObjects({ ...opts, namespace: ns, snapshot: away ? name : opts.snapshot, identity, ...(placement ? { placement } : {}) });
  let handoff: HandedOffSnapshot | undefined;
  try {
    if (away) {
      handoff = await handOffSnapshot(client, { from: { namespace: opts.namespace, snapshot: opts.snapshot }, to: ns, name, labels: job.metadata.labels ?? {}, ...(opts.signal ? { signal: opts.signal } : {}) });
    }
    await client.create('v1', 'secrets', ns, secret);
    await client.create('v1', 'persistentvolumeclaims', ns, pvc);
    const created = await client.create('batch/v1', 'jobs', ns, job);
    // Owned by the Job: if this process dies, the garbage collector removes the credentials and the PVC with it.
    const owner = { ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name, uid: created.metadata.uid, blockOwnerDeletion: false }] };
    await client.mergePatch('v1', 'secrets', ns, secret.metadata.name, { metadata: owner });
    await client.mergePatch('v1', 'persistentvolumeclaims', ns, pvc.metadata.name, { metadata: owner });
    opts.log?.(`mover job ${ns}/${name}: ${opts.pvc.metadata.name} from snapshot ${opts.snapshot}`);
    const watching = opts.onBytes ? watchMoverProgress(client, ns, name, opts.onBytes) : undefined;
    let outcome: Awaited<ReturnType<typeof waitForMoverJob>>;
    try {
      outcome = await waitForMoverJob(client, ns, name, { what: `mover job ${ns}/${name}`, timeoutMs: opts.timeoutMs ?? DEFAULT_MOVER_TIMEOUT_MS, ...(opts.signal ? { signal: opts.signal } : {}) });
    } finally {
      watching?.stop();
    }
    const log = await jobLog(client, ns, name);
    if (outcome === 'Failed') throw new MoverError(`mover job ${ns}/${name} for PVC ${opts.pvc.metadata.name} failed${log ? `; last lines of its log:\n${tail(log)}` : ' (no log)'}`, tail(log));
    const result = parseMoverOutput(log);
    if (!result) throw new MoverError(`mover job ${ns}/${name} completed without a JSON result line${log ? `; log ends with:\n${tail(log)}` : ''}`, tail(log));
    const unreadable = unreadableError(result.warnings, identity);
    if (unreadable) throw new MoverError(`mover job ${ns}/${name} for PVC ${opts.pvc.metadata.name}: ${unreadable}`);
    const stats: Record<string, number> = {};
    for (const [k, v] of Object.entries((result.stats as Record<string, unknown>) ?? result)) if (typeof v === 'number') stats[k] = v;
    return { snapshotId: (result.snapshotId ?? result.id) as string, stats, job: name, raw: result };
  } finally {
    // Job first (Background propagation removes its pod), then the PVC it mounted, then the credentials.
    for (const [api, plural, n] of [['batch/v1', 'jobs', name], ['v1', 'persistentvolumeclaims', pvc.metadata.name], ['v1', 'secrets', secret.metadata.name]] as const) {
      await client.delete(api, plural, ns, n).catch((e) => opts.log?.(`cleanup of ${plural} ${ns}/${n} failed: ${(e as Error).message}`));
    }
    if (handoff) await releaseHandOff(client, ns, handoff).catch((e) => opts.log?.(`cleanup of the snapshot hand-off ${ns}/${handoff!.snapshot} failed: ${(e as Error).message}`));
  }
}

/**
 * Where a backup mover must run: on a node the application's volume can be used from (its PersistentVolume's required
 * node affinity), because node-local storage keeps its snapshots on that node. Undefined for volumes usable anywhere.
 */
export async function volumePlacement(client: KubeClient, pvc: KubeObject): Promise<Record<string, unknown> | undefined> {
  const pvName = (pvc.spec as { volumeName?: string } | undefined)?.volumeName;
  const pv = pvName ? await client.find('v1', 'persistentvolumes', undefined, pvName).catch(() => undefined) : undefined;
  const required = (pv?.spec as { nodeAffinity?: { required?: { nodeSelectorTerms?: unknown[] } } } | undefined)?.nodeAffinity?.required;
  return required?.nodeSelectorTerms?.length ? { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: required } } } : undefined;
}

/**
 * Waits for a mover Job (backup or restore) to complete or fail. A pod that cannot pull its image or cannot be created
 * never fails the Job by itself, so that ends the wait at once; a timeout carries the pod's log tail.
 */
export async function waitForMoverJob(client: KubeClient, ns: string, name: string, opts: { what: string; timeoutMs: number; signal?: AbortSignal }): Promise<'Complete' | 'Failed'> {
  let last = '';
  try {
    return await waitFor(
      async () => {
        const j = await client.get('batch/v1', 'jobs', ns, name);
        const st = (j.status ?? {}) as { succeeded?: number; failed?: number; active?: number; conditions?: { type: string; status: string; message?: string }[] };
        last = `active=${st.active ?? 0} succeeded=${st.succeeded ?? 0} failed=${st.failed ?? 0}`;
        if (st.conditions?.some((c) => c.type === 'Complete' && c.status === 'True') || (st.succeeded ?? 0) > 0) return 'Complete' as const;
        if (st.conditions?.some((c) => c.type === 'Failed' && c.status === 'True') || (st.failed ?? 0) > 0) return 'Failed' as const;
        const pod = await jobPod(client, ns, name);
        if (!pod) {
          // Admission (Pod Security, quota) refusing the Job's pods never fails the Job either: the controller reports it.
          const events = await client.list('v1', 'events', ns, { fieldSelector: `involvedObject.kind=Job,involvedObject.name=${name}` });
          const refused = events.find((e) => (e as { reason?: string }).reason === 'FailedCreate');
          if (refused) throw new MoverError(`${opts.what} cannot create its pod: ${String((refused as { message?: string }).message ?? '').replace(/^Error creating: /, '')}`);
        }
        // Not placed yet: the scheduler's reason goes into a timeout's message (it may resolve itself, e.g. by autoscaling).
        const unscheduled = ((pod?.status as { conditions?: { type: string; status: string; message?: string }[] } | undefined)?.conditions ?? []).find((c) => c.type === 'PodScheduled' && c.status === 'False');
        if (unscheduled?.message) last += `; pod ${pod!.metadata.name} not scheduled: ${unscheduled.message}`;
        const waiting = (pod?.status as { containerStatuses?: { state?: { waiting?: { reason?: string; message?: string } } }[] } | undefined)?.containerStatuses?.[0]?.state?.waiting;
        if (waiting && /ImagePull|ErrImage|InvalidImageName|CreateContainerConfigError/.test(waiting.reason ?? '')) {
          throw new MoverError(`${opts.what} cannot start: ${waiting.reason}${waiting.message ? `: ${waiting.message}` : ''}`);
        }
        return undefined;
      },
      { timeoutMs: opts.timeoutMs, ...(opts.signal ? { signal: opts.signal } : {}), what: opts.what, describe: () => last, maxIntervalMs: 1000 },
    );
  } catch (e) {
    if (e instanceof TimeoutError) {
      const log = await jobLog(client, ns, name);
      throw new MoverError(`${e.message}${log ? `\n${tail(log)}` : ''}`, tail(log));
    }
    throw e;
  }
}

async function jobPod(client: KubeClient, ns: string, job: string): Promise<KubeObject | undefined> {
  const pods = await client.list('v1', 'pods', ns, { labelSelector: `job-name=${job}` });
  return pods.sort((a, b) => (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? '')).at(-1);
}

/** The mover container's log of a Job's newest pod ('' when there is none). */
export async function jobLog(client: KubeClient, ns: string, job: string): Promise<string> {
  const pod = await jobPod(client, ns, job).catch(() => undefined);
  if (!pod) return '';
  return client.podLog(ns, pod.metadata.name, { container: 'mover' }).catch(() => '');
}
