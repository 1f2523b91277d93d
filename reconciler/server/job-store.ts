import { isConflict, type KubeClient } from '../kube/client.ts';
import type { KubeObject } from '../kube/types.ts';

export type JobKind = 'backup' | 'restore';

/** What every job shares (BackupJob and RestoreJob). */
export interface SharedJob {
  id: string;
  state: string;
  created: string;
  finished?: string;
  error?: string;
}

/** A job as any replica sees it: the owner's last written state, who owns it, and a cancel asked for elsewhere. */
export interface StoredJob<J extends SharedJob = SharedJob> {
  job: J;
  owner: string;
  heartbeat: string;
  cancelRequestedBy?: string;
}

const LABEL = 'app.kubernetes.io/component';
const KIND = 'coffer.dev/job-kind';
const OWNER = 'coffer.dev/owner';
const HEARTBEAT = 'coffer.dev/heartbeat';
const CANCEL = 'coffer.dev/cancel-requested-by';
const RUN_CANCEL = 'run-cancel';
const RUN = 'coffer.dev/run';
const REQUESTED = 'coffer.dev/requested-at';

/** A cancel of a run (`coffer cancel RUN`) asked for on a replica that is not running it. */
export interface RunCancelRequest {
  run: string;
  who: string;
  requestedAt: string;
}

export interface JobStoreOptions {
  client: KubeClient;
  /** Coffer's namespace (the Lease's): the ConfigMaps live there, where only Coffer may write. */
  namespace: string;
  /** This replica's identity (the Lease holder name). */
  identity: string;
  now?: () => Date;
  /** How often the owner rewrites its unfinished jobs (default 2 s); also how soon a cancel from elsewhere lands. */
  syncMs?: number;
  /** An unfinished job whose owner has been silent this long is reported failed (default 30 s). */
  staleMs?: number;
  /** Finished jobs kept per kind (default 100) and for how long (default 24 h). */
  keep?: number;
  keepMs?: number;
  log?: (e: Record<string, unknown>) => void;
}

/**
 * API jobs (on-demand backups, restores) written to one ConfigMap each in Coffer's namespace, so every replica behind
 * the Service answers for every job: GET of a job accepted by the other replica, the list of all of them, and a cancel
 * (written as an annotation the owner picks up at its next sync). The owner is the only writer of the job's state and
 * rewrites it every `syncMs` while it runs — that write is also its heartbeat: a job whose owner went silent (the pod
 * died) is reported failed instead of "running" forever. Finished jobs are pruned by count and age.
 */
export class JobStore {
  private readonly now: () => Date;
  private readonly tracked = new Map<string, { kind: JobKind; job: SharedJob; onCancel: (who: string) => void; written: boolean; cancelSeen?: string }>();
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private lastError: string | undefined;

  constructor(private readonly o: JobStoreOptions) {
    this.now = o.now ?? (() => new Date());
  }

  /** Starts mirroring a job of this replica; `onCancel` runs when another replica asks to cancel it. */
  track(kind: JobKind, job: SharedJob, onCancel: (who: string) => void): void {
    this.tracked.set(job.id, { kind, job, onCancel, written: false });
    void this.sync();
    this.timer ??= setInterval(() => void this.sync(), this.o.syncMs ?? 2000).unref();
  }

  /** The job finished: written once more, then no longer synced; old finished jobs are pruned. */
  async done(kind: JobKind, job: SharedJob): Promise<void> {
    const t = this.tracked.get(job.id);
    this.tracked.delete(job.id);
    if (!this.tracked.size) this.stop();
    await this.serial(async () => void (await this.write(kind, job, !t?.written)));
    await this.prune(kind).catch((e: Error) => this.o.log?.({ event: 'error', message: `pruning finished API jobs: ${e.message}` }));
  }

  /** Resolves once every write queued so far is done (tests, shutdown). */
  flush(): Promise<void> {
    return this.writing;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  async get<J extends SharedJob>(kind: JobKind, id: string): Promise<StoredJob<J> | undefined> {
    const cm = await this.o.client.find('v1', 'configmaps', this.o.namespace, configMapName(id));
    return cm && cm.metadata.labels?.[KIND] === kind ? this.read<J>(cm) : undefined;
  }

  async list<J extends SharedJob>(kind: JobKind): Promise<Array<StoredJob<J>>> {
    const cms = await this.o.client.list('v1', 'configmaps', this.o.namespace, { labelSelector: `${LABEL}=api-job,${KIND}=${kind}` });
    return cms.map((c) => this.read<J>(c)).filter((s): s is StoredJob<J> => s !== undefined);
  }

  /** Asks the owner of a job to cancel it (asking again is harmless); undefined when there is no such job. */
  async requestCancel<J extends SharedJob>(kind: JobKind, id: string, who: string): Promise<StoredJob<J> | undefined> {
    const found = await this.get<J>(kind, id);
    if (!found) return undefined;
    if (found.job.finished) return found;
    await this.o.client.mergePatch('v1', 'configmaps', this.o.namespace, configMapName(id), { metadata: { annotations: { [CANCEL]: who } } });
    return { ...found, cancelRequestedBy: who };
  }

  /**
   * Asks whichever replica runs RUN (the Lease holder, for scheduled runs) to cancel it: a ConfigMap the holder
   * picks up at its next `watchRunCancels` tick. Asking again only renames who asked.
   */
  async requestRunCancel(run: string, who: string): Promise<RunCancelRequest> {
    const req: RunCancelRequest = { run, who, requestedAt: this.now().toISOString() };
    const name = runCancelName(run);
    const annotations = { [CANCEL]: who, [RUN]: run, [REQUESTED]: req.requestedAt };
    try {
      await this.o.client.create('v1', 'configmaps', this.o.namespace, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: this.o.namespace, labels: { 'app.kubernetes.io/name': 'coffer', [LABEL]: RUN_CANCEL }, annotations } } as KubeObject);
    } catch (e) {
      if (!isConflict(e)) throw e;
      await this.o.client.mergePatch('v1', 'configmaps', this.o.namespace, name, { metadata: { annotations } });
    }
    return req;
  }

  /**
   * Carries out run cancels asked for on other replicas: every `syncMs` while this replica has runs in flight
   * (`inFlight` non-empty; no API calls while idle), each request naming one of them is handed to `cancel` and
   * removed. A request no replica took up within `staleMs` (the run had finished) is removed too.
   */
  watchRunCancels(inFlight: () => string[], cancel: (run: string, who: string) => void): () => void {
    let busy = false;
    const tick = async () => {
      const mine = new Set(inFlight());
      if (busy || !mine.size) return;
      busy = true;
      try {
        const cms = await this.o.client.list('v1', 'configmaps', this.o.namespace, { labelSelector: `${LABEL}=${RUN_CANCEL}` });
        for (const cm of cms) {
          const a = cm.metadata.annotations ?? {};
          const run = a[RUN];
          const stale = this.now().getTime() - Date.parse(a[REQUESTED] ?? '') > (this.o.staleMs ?? 30_000);
          if (run && mine.has(run)) {
            this.o.log?.({ event: 'run-cancel-forwarded', run, user: a[CANCEL] });
            cancel(run, a[CANCEL] ?? 'unknown');
          } else if (!stale) continue;
          await this.o.client.delete('v1', 'configmaps', this.o.namespace, cm.metadata.name).catch(() => undefined);
        }
      } catch (e) {
        this.o.log?.({ event: 'error', message: `reading run cancels asked for on other replicas: ${(e as Error).message}` });
      } finally {
        busy = false;
      }
    };
    const timer = setInterval(() => void tick(), this.o.syncMs ?? 2000).unref();
    return () => clearInterval(timer);
  }

  private read<J extends SharedJob>(cm: KubeObject): StoredJob<J> | undefined {
    const data = (cm as { data?: Record<string, string> }).data?.['job.json'];
    if (!data) return undefined;
    let job: J;
    try {
      job = JSON.parse(data) as J;
    } catch {
      return undefined;
    }
    const a = cm.metadata.annotations ?? {};
    const heartbeat = a[HEARTBEAT] ?? job.created;
    const owner = a[OWNER] ?? 'unknown';
    const silentMs = this.now().getTime() - Date.parse(heartbeat);
    if (!job.finished && silentMs > (this.o.staleMs ?? 30_000)) {
      job = { ...job, state: 'failed', error: `replica ${owner} stopped reporting on this job ${Math.round(silentMs / 1000)}s ago (last state ${job.state})` };
    }
    return { job, owner, heartbeat, ...(a[CANCEL] ? { cancelRequestedBy: a[CANCEL] } : {}) };
  }

  /** Runs writes one at a time; a failure is logged once until it changes (the sync retries every 2 s). */
  private serial(f: () => Promise<void>): Promise<void> {
    this.writing = this.writing.then(f).then(
      () => void (this.lastError = undefined),
      (e: Error) => {
        if (e.message !== this.lastError) this.o.log?.({ event: 'error', message: `API job state not written (other replicas cannot see it): ${e.message}` });
        this.lastError = e.message;
      },
    );
    return this.writing;
  }

  /** Rewrites every unfinished job of this replica; the answer carries cancels asked for elsewhere. */
  private sync(): Promise<void> {
    return this.serial(async () => {
      for (const t of this.tracked.values()) {
        const cm = await this.write(t.kind, t.job, !t.written);
        t.written = true;
        const cancel = cm?.metadata.annotations?.[CANCEL];
        if (cancel && t.cancelSeen !== cancel) {
          t.cancelSeen = cancel;
          try {
            t.onCancel(cancel);
          } catch {
            // Finished meanwhile: the final write says so.
          }
        }
      }
    });
  }

  private async write(kind: JobKind, job: SharedJob, create = false): Promise<KubeObject | undefined> {
    const name = configMapName(job.id);
    const body = {
      metadata: { annotations: { [OWNER]: this.o.identity, [HEARTBEAT]: this.now().toISOString() } },
      data: { 'job.json': JSON.stringify(job) },
    };
    if (create) {
      try {
        return await this.o.client.create('v1', 'configmaps', this.o.namespace, {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name, namespace: this.o.namespace, labels: { 'app.kubernetes.io/name': 'coffer', [LABEL]: 'api-job', [KIND]: kind }, annotations: body.metadata.annotations },
          data: body.data,
        } as KubeObject);
      } catch (e) {
        if (!isConflict(e)) throw e; // written before, its answer lost: update it like any later write
      }
    }
    return this.o.client.mergePatch('v1', 'configmaps', this.o.namespace, name, body);
  }

  private async prune(kind: JobKind): Promise<void> {
    const keep = this.o.keep ?? 100;
    const cutoff = this.now().getTime() - (this.o.keepMs ?? 86_400_000);
    const finished = (await this.list(kind)).filter((s) => s.job.finished).sort((a, b) => b.job.created.localeCompare(a.job.created));
    for (const [i, s] of finished.entries()) {
      if (i >= keep || Date.parse(s.job.finished!) < cutoff) await this.o.client.delete('v1', 'configmaps', this.o.namespace, configMapName(s.job.id));
    }
  }
}

/** `coffer-cancel-<run>`: one request per run, so asking twice (or from two replicas) does not pile up. */
export function runCancelName(run: string): string {
  return `coffer-cancel-${run.toLowerCase().replace(/[^a-z0-9-]/g, '-')}`.slice(0, 253).replace(/-+$/, '');
}

/** `coffer-job-<id>`: job ids are lower-case letters, digits and dashes already; anything else is replaced. */
export function configMapName(id: string): string {
  return `coffer-job-${id.toLowerCase().replace(/[^a-z0-9-]/g, '-')}`.slice(0, 253).replace(/-+$/, '');
}
