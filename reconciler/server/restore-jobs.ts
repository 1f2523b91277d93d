import { randomBytes } from 'node:crypto';
import git from 'isomorphic-git';
import YAML from 'yaml';
import type { Plan } from '../../compiler/index.ts';
import { runId, type Catalog, type RestorePoint } from '../catalog/index.ts';
import { gitFs } from '../git/fs.ts';
import type { GitSource } from '../git/source.ts';
import type { KubeClient } from '../kube/client.ts';
import type { ReconcileOptions } from '../reconcile.ts';
import { RestoreError } from '../restore/errors.ts';
import type { VolumeRestoreOutcome } from '../restore/execute.ts';
import type { RestoreResultDoc } from '../restore/result.ts';
import { runRestore, type RestoreRequest } from '../restore/run.ts';
import { parseBefore, selectRestorePoint } from '../restore/select.ts';
import type { JobStore } from './job-store.ts';
import { parseRestoreBody, parseTimeout, type RestoreApiRequest } from './restore-request.ts';

/** Which restore point a request resolved to (`latest` is resolved when the request is accepted, not when it runs). */
export interface ResolvedPoint {
  name: string;
  cluster: string;
  namespace: string;
  policy: string;
  startTime: string;
}

export interface RestoreJob {
  id: string;
  requestedBy: string;
  state: 'waiting' | 'running' | 'succeeded' | 'partiallyFailed' | 'failed' | 'cancelled';
  /** Who cancelled it (coffer cancel, POST /api/v1/restores/ID/cancel). */
  cancelledBy?: string;
  created: string;
  started?: string;
  finished?: string;
  request: RestoreApiRequest;
  restorePoint: ResolvedPoint;
  targetNamespace: string;
  /** Filled when the restore ran: the RestoreResult's phase and counts, and where it was committed. */
  result?: { phase: string; summary: RestoreResultDoc['spec']['summary']; errors?: string[]; volumes?: RestoreResultDoc['spec']['volumes'] };
  recorded?: { path: string; commit: string };
  error?: string;
  /** The restore's own progress lines (the CLI prints the same), the last 20. */
  progress: string[];
}

/** A restore that already happened, as its RestoreResult on the catalog branch says (restores/<cluster>/<ns>/<name>.yaml). */
export interface RecordedRestore {
  name: string;
  path: string;
  restore?: string;
  restorePoint: string;
  source: RestoreResultDoc['spec']['source'];
  target: RestoreResultDoc['spec']['target'];
  phase: string;
  startTime: string;
  endTime?: string;
  summary: RestoreResultDoc['spec']['summary'];
  errors?: string[];
}

export interface RestorePreview {
  dryRun: true;
  restorePoint: ResolvedPoint;
  targetNamespace: string;
  /** What would happen to every object of the restore point (`created` = would be created, `skipped` with the reason). */
  resources: RestoreResultDoc['spec']['resources'];
  summary: RestoreResultDoc['spec']['summary'];
  volumes: Array<Pick<VolumeRestoreOutcome, 'pvc' | 'from' | 'snapshotId'>>;
  transforms: string[];
  errors: string[];
}

export interface RestoreJobsOptions {
  source: GitSource;
  client: KubeClient;
  /** The reconciler's current plan and catalog (never a working copy). */
  current: () => Promise<{ plan: Plan; catalog: Catalog }>;
  /** Runs work exclusively: after earlier API jobs, under the reconciler Lease (never beside a reconcile). */
  exclusive: <T>(work: (signal?: AbortSignal) => Promise<T>) => Promise<T>;
  reconcile?: Pick<ReconcileOptions, 'moverImage' | 'cofferNamespace' | 'env'>;
  /** A job changed state or logged a progress line (the server's live events). */
  onChange?: (job: RestoreJob, line?: string) => void;
  log: (e: Record<string, unknown>) => void;
  now: () => Date;
  /** Errors thrown for refused requests (the server maps them to status codes). */
  inputError: (status: number, message: string) => Error;
  /** Where jobs are written so every replica answers for them. */
  jobs?: JobStore;
}

const KEEP_JOBS = 100;

/** May the requester restore `point` into `target`? Throws (403) when not; runs before anything else happens. */
export type AccessCheck = (point: ResolvedPoint, target: string) => Promise<void>;

function targetOf(request: RestoreApiRequest, point: ResolvedPoint): string {
  return request.namespaceMapping?.[point.namespace] ?? point.namespace;
}

/**
 * `POST /api/v1/restores`: dry-run previews answered at once, real restores run as jobs (one at a time, under the
 * Lease, logged with who asked) whose RestoreResult is committed to the catalog branch like any `coffer restore`.
 * The restore point is resolved when the request is accepted, so `latest` means the newest one the user saw.
 */
export class RestoreJobs {
  private readonly jobs = new Map<string, RestoreJob>();
  private readonly parsed = new Map<string, RestoreResultDoc>();
  /** Per-job abort of restores not finished yet (see cancel). */
  private readonly cancels = new Map<string, AbortController>();

  constructor(private readonly o: RestoreJobsOptions) {}

  /**
   * Cancels a restore: a waiting one never starts; a running one is interrupted like a shutdown deadline interrupts it
   * (what was already created stays, and the RestoreResult says so). Undefined when unknown; 409 when finished.
   */
  cancel(id: string, who: string): RestoreJob | undefined {
    const job = this.jobs.get(id);
    if (!job) return undefined;
    const c = this.cancels.get(id);
    if (!c) throw this.o.inputError(409, `restore ${id} has already finished (${job.state})`);
    if (!c.signal.aborted) {
      job.cancelledBy = who;
      c.abort(new Error(`cancelled by ${who}`));
      this.o.log({ event: 'api-restore-cancel', id, user: who, state: job.state });
    }
    if (job.state === 'waiting') {
      job.state = 'cancelled';
      job.error = `cancelled by ${who} before it started`;
    }
    return job;
  }

  /** Validates a request body against the current plan (400 naming the field) and resolves its restore point. */
  async accept(body: unknown): Promise<{ request: RestoreApiRequest; point: ResolvedPoint; plan: Plan; catalog: Catalog }> {
    const { plan, catalog } = await this.o.current();
    const request = parseRestoreBody(body, plan.transformSets.map((t) => t.name));
    const cluster = request.fromCluster ?? plan.config.cluster;
    const points = await catalog.readRestorePoints({ cluster, ...(request.namespace ? { namespace: request.namespace } : {}), ...(request.policy ? { policy: request.policy } : {}) });
    let rp: RestorePoint;
    try {
      rp = selectRestorePoint(points, { ref: request.restorePoint, ...(request.namespace ? { namespace: request.namespace } : {}), ...(request.policy ? { policy: request.policy } : {}), ...(request.before ? { before: parseBefore(request.before) } : {}) }).doc;
    } catch (e) {
      if (!(e instanceof RestoreError)) throw e;
      const msg = e.message.replace(/--namespace/g, '"namespace"').replace(/--policy/g, '"policy"').replace(/ \(see coffer restorepoints\)/, '');
      throw this.o.inputError(/not found|no successful/.test(msg) ? 404 : 400, `restorePoint: ${msg}`);
    }
    if (!rp.spec.repository.manifestSnapshot) throw this.o.inputError(422, `restorePoint: ${rp.metadata.name} has no manifest snapshot (its policy does not export); nothing to restore`);
    const point = { name: rp.metadata.name, cluster: rp.spec.cluster, namespace: rp.spec.namespace, policy: rp.spec.policy, startTime: rp.spec.startTime };
    return { request, point, plan, catalog };
  }

  private restoreRequest(request: RestoreApiRequest, point: ResolvedPoint, plan: Plan, catalog: Catalog): RestoreRequest {
    const env = this.o.reconcile?.env;
    return {
      source: this.o.source,
      client: this.o.client,
      plan,
      catalog,
      restorePoint: { ref: point.name, namespace: point.namespace, policy: point.policy },
      sourceCluster: point.cluster,
      ...(request.namespaceMapping ? { namespaceMapping: request.namespaceMapping } : {}),
      ...(request.include ? { include: request.include } : {}),
      ...(request.exclude ? { exclude: request.exclude } : {}),
      transforms: request.transforms ?? [],
      existing: request.existing ?? 'skip',
      ...(request.wait ? { wait: true } : {}),
      ...(request.timeout ? { waitTimeoutMs: parseTimeout(request.timeout) } : {}),
      ...(request.volumes === false ? { volumes: false } : {}),
      ...(request.hooks === false ? { hooks: false } : {}),
      ...(this.o.reconcile?.moverImage ? { moverImage: this.o.reconcile.moverImage } : {}),
      ...(this.o.reconcile?.cofferNamespace ? { cofferNamespace: this.o.reconcile.cofferNamespace } : {}),
      ...(env ? { env } : {}),
      now: this.o.now,
      trigger: 'manual',
    };
  }

  /** What the restore would do, read from the cluster and the repository; nothing is changed or recorded. */
  async preview(body: unknown, requestedBy: string, check?: AccessCheck): Promise<RestorePreview> {
    const { request, point, plan, catalog } = await this.accept(body);
    await check?.(point, targetOf(request, point));
    const out = await runRestore({ ...this.restoreRequest(request, point, plan, catalog), dryRun: true });
    this.o.log({ event: 'api-restore-previewed', user: requestedBy, restorePoint: point.name, target: out.plan.targetNamespace });
    const s = out.result.spec;
    return {
      dryRun: true,
      restorePoint: point,
      targetNamespace: out.plan.targetNamespace,
      resources: s.resources,
      summary: s.summary,
      volumes: out.execution.volumes.map((v) => ({ pvc: v.pvc, from: v.from, ...(v.snapshotId ? { snapshotId: v.snapshotId } : {}) })),
      transforms: s.transforms ?? [],
      errors: s.errors ?? [],
    };
  }

  /** Accepts a restore and returns its job at once; the restore runs when earlier jobs are done and the Lease is free. */
  async start(body: unknown, requestedBy: string, check?: AccessCheck): Promise<RestoreJob> {
    const { request, point, plan, catalog } = await this.accept(body);
    await check?.(point, targetOf(request, point));
    const created = this.o.now();
    const job: RestoreJob = {
      id: runId('restore', created, randomBytes(3).toString('hex')),
      requestedBy,
      state: 'waiting',
      created: created.toISOString(),
      request,
      restorePoint: point,
      targetNamespace: targetOf(request, point),
      progress: [],
    };
    const req = this.restoreRequest(request, point, plan, catalog);
    const cancel = new AbortController();
    // Queued first: while the server shuts down this throws (503) and no job is left behind.
    const running = this.o.exclusive((signal) => {
      cancel.signal.throwIfAborted(); // cancelled while waiting: never starts
      return this.execute(job, req, signal ? AbortSignal.any([signal, cancel.signal]) : cancel.signal);
    });
    this.cancels.set(job.id, cancel);
    this.jobs.set(job.id, job);
    for (const old of [...this.jobs.keys()].slice(0, Math.max(0, this.jobs.size - KEEP_JOBS))) this.jobs.delete(old);
    this.o.jobs?.track('restore', job, (who) => this.cancel(job.id, who));
    this.o.log({ event: 'api-restore-requested', id: job.id, user: requestedBy, restorePoint: point.name, namespace: point.namespace, target: job.targetNamespace, request });
    void this.finish(job, running);
    this.o.onChange?.(job);
    return job;
  }

  private execute(job: RestoreJob, req: RestoreRequest, signal?: AbortSignal) {
    job.state = 'running';
    job.started = this.o.now().toISOString();
    this.o.onChange?.(job);
    // The job id names the RestoreResult, so GET /restores/{id} finds it in the catalog after a restart too.
    const log = (m: string) => {
      job.progress.push(`${this.o.now().toISOString()} ${m.split('\n')[0]}`);
      if (job.progress.length > 20) job.progress.shift();
      this.o.onChange?.(job, m.split('\n')[0]);
    };
    return runRestore({ ...req, resultName: job.id, log, ...(signal ? { signal } : {}) });
  }

  private async finish(job: RestoreJob, running: ReturnType<RestoreJobs['execute']>): Promise<void> {
    try {
      const out = await running;
      const s = out.result.spec;
      job.result = { phase: s.phase, summary: s.summary, ...(s.errors?.length ? { errors: s.errors } : {}), ...(s.volumes?.length ? { volumes: s.volumes } : {}) };
      if (out.commit) job.recorded = { path: out.commit.path, commit: out.commit.commit };
      job.state = s.phase === 'Succeeded' ? 'succeeded' : s.phase === 'PartiallyFailed' ? 'partiallyFailed' : 'failed';
      if (s.errors?.length && job.state !== 'succeeded') job.error = s.errors.join('; ');
    } catch (e) {
      job.state = 'failed';
      job.error = (e as Error).message;
    }
    const cancel = this.cancels.get(job.id)?.signal;
    this.cancels.delete(job.id);
    if (cancel?.aborted && job.state !== 'succeeded') {
      job.state = 'cancelled';
      const why = (cancel.reason as Error).message;
      job.error = job.started ? (job.error?.includes(why) ? job.error : `${why}${job.error ? `: ${job.error}` : ''}`) : `${why} before it started`;
    }
    job.finished = this.o.now().toISOString();
    void this.o.jobs?.done('restore', job);
    this.o.onChange?.(job);
    this.o.log({ event: 'api-restore-finished', id: job.id, user: job.requestedBy, state: job.state, ...(job.recorded ? { commit: job.recorded.commit } : {}), ...(job.error ? { error: job.error } : {}) });
  }

  jobsList(): RestoreJob[] {
    return [...this.jobs.values()].sort((a, b) => b.created.localeCompare(a.created));
  }

  job(id: string): RestoreJob | undefined {
    return this.jobs.get(id);
  }

  /** RestoreResults on the catalog branch of this cluster, newest first (documents parsed once per blob). */
  recorded(catalog: Catalog): Promise<Array<RecordedRestore & { doc: RestoreResultDoc }>> {
    return readRecordedRestores(catalog, this.parsed);
  }
}

/** RestoreResults on the catalog branch of this cluster, newest first (each blob parsed once per `parsed` cache). */
export async function readRecordedRestores(catalog: Catalog, parsed = new Map<string, RestoreResultDoc>()): Promise<Array<RecordedRestore & { doc: RestoreResultDoc }>> {
  const tip = await catalog.tip();
  if (!tip) return [];
  const { gitdir, cache } = catalog.source;
  let top;
  try {
    top = await git.readTree({ fs: gitFs, gitdir, oid: tip, filepath: `restores/${catalog.cluster}`, cache });
  } catch (e) {
    if ((e as { code?: string }).code === 'NotFoundError') return [];
    throw e;
  }
  const out: Array<RecordedRestore & { doc: RestoreResultDoc }> = [];
  for (const ns of top.tree) {
    if (ns.type !== 'tree') continue;
    const { tree } = await git.readTree({ fs: gitFs, gitdir, oid: ns.oid, cache });
    for (const f of tree) {
      if (f.type !== 'blob' || !f.path.endsWith('.yaml')) continue;
      let doc = parsed.get(f.oid);
      if (!doc) {
        const { blob } = await git.readBlob({ fs: gitFs, gitdir, oid: f.oid, cache });
        doc = YAML.parse(Buffer.from(blob).toString('utf8')) as RestoreResultDoc;
        if (doc?.kind !== 'RestoreResult' || !doc.spec) continue;
        parsed.set(f.oid, doc);
      }
      const s = doc.spec;
      out.push({
        name: doc.metadata.name,
        path: `restores/${catalog.cluster}/${ns.path}/${f.path}`,
        ...(s.restore ? { restore: s.restore } : {}),
        restorePoint: s.restorePoint,
        source: s.source,
        target: s.target,
        phase: s.phase,
        startTime: s.startTime,
        ...(s.endTime ? { endTime: s.endTime } : {}),
        summary: s.summary,
        ...(s.errors?.length ? { errors: s.errors } : {}),
        doc,
      });
    }
  }
  return out.sort((a, b) => b.startTime.localeCompare(a.startTime) || b.name.localeCompare(a.name));
}
