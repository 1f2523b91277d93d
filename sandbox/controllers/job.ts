/**
 * Job controller: runs pods until `completions` succeed (NonIndexed or
 * Indexed), at most `parallelism` at once, retries failures with exponential
 * backoff up to `backoffLimit`, honours activeDeadlineSeconds, suspend and
 * ttlSecondsAfterFinished, and sets the Complete / Failed conditions (with
 * SuccessCriteriaMet / FailureTarget first, as Kubernetes ≥1.31 does).
 */
import { CreateBackoff } from './backoff.ts';
import { failureText, type KubeObject } from './client.ts';
import { Expectations } from './expectations.ts';
import { type Informer, WorkQueue } from './informer.ts';
import type { ControllerDeps } from './replicaset.ts';
import { isOwnedBy, nowIso, ownerRefTo, podFromTemplate, podReady, setCondition, statusChanged } from './workload.ts';

const INDEX = 'batch.kubernetes.io/job-completion-index';

export interface JobOptions {
  /** First retry delay after a failed pod; doubles per failure (Kubernetes uses 10s). */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
}

export function jobFinished(job: KubeObject): 'Complete' | 'Failed' | undefined {
  for (const c of job.status?.conditions ?? []) {
    if ((c.type === 'Complete' || c.type === 'Failed') && c.status === 'True') return c.type;
  }
  return undefined;
}

function podIndex(p: KubeObject): number | undefined {
  const v = p.metadata.annotations?.[INDEX] ?? p.metadata.labels?.[INDEX];
  return v === undefined ? undefined : Number(v);
}

/** Kubernetes' compressed index list: 0-2,5,7-8. */
export function formatIndexes(xs: number[]): string {
  const s = [...new Set(xs)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < s.length; ) {
    let j = i;
    while (j + 1 < s.length && s[j + 1] === s[j]! + 1) j++;
    parts.push(i === j ? `${s[i]}` : `${s[i]}-${s[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

export class JobController {
  readonly queue: WorkQueue;
  private readonly expect: Expectations;
  private readonly refused = new CreateBackoff();

  constructor(
    private readonly d: ControllerDeps,
    readonly jobs: Informer,
    private readonly opts: JobOptions = {},
  ) {
    this.queue = new WorkQueue((k) => this.sync(k), d.log);
    this.expect = new Expectations(d.pods);
    jobs.on((_t, o) => this.queue.add(`${o.metadata.namespace}/${o.metadata.name}`));
  }

  stop(): void {
    this.queue.stop();
  }

  private jobPath(ns: string, name: string, sub = '') {
    return `/apis/batch/v1/namespaces/${ns}/jobs/${encodeURIComponent(name)}${sub}`;
  }

  private async sync(key: string): Promise<void> {
    const [ns, name] = key.split('/') as [string, string];
    const job = this.jobs.get(ns, name);
    if (!job) return this.expect.forget(key);
    const api = this.d.api;
    const pods = this.d.pods.list((p) => p.metadata.namespace === ns && isOwnedBy(p, job));
    const active = pods.filter((p) => !p.metadata.deletionTimestamp && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed');
    const succeededPods = pods.filter((p) => p.status?.phase === 'Succeeded');
    const failedPods = pods.filter((p) => p.status?.phase === 'Failed');
    const indexed = job.spec?.completionMode === 'Indexed';
    const completions: number | null = job.spec?.completions ?? (indexed ? 1 : null);
    const parallelism = job.spec?.parallelism ?? 1;
    const backoffLimit = job.spec?.backoffLimit ?? 6;
    const onFailureRestarts = active.reduce((s, p) => s + (p.status?.containerStatuses ?? []).reduce((t: number, c: any) => t + (c.restartCount ?? 0), 0), 0);
    const failed = failedPods.length + (job.spec?.template?.spec?.restartPolicy === 'OnFailure' ? onFailureRestarts : 0);
    const succeededIndexes = indexed ? [...new Set(succeededPods.map(podIndex).filter((i): i is number => i !== undefined && i < completions!))] : [];
    const succeeded = indexed ? succeededIndexes.length : succeededPods.length;
    const now = nowIso();
    const startTime = job.status?.startTime ?? (job.spec?.suspend ? undefined : now);
    let conditions = job.status?.conditions ?? [];
    let finished = jobFinished(job);
    let completionTime = job.status?.completionTime;
    const deletePods = async (list: KubeObject[]) => {
      for (const p of list) {
        this.expect.deleted(key, `${ns}/${p.metadata.name}`);
        await api.delete(`/api/v1/namespaces/${ns}/pods/${encodeURIComponent(p.metadata.name!)}`);
      }
    };

    if (!finished && !job.metadata.deletionTimestamp) {
      const deadline = job.spec?.activeDeadlineSeconds;
      const done = completions === null ? succeeded > 0 && active.length === 0 : succeeded >= completions;
      let failure: { reason: string; message: string } | undefined;
      if (failed > backoffLimit) failure = { reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit' };
      else if (deadline !== undefined && startTime && Date.parse(startTime) + deadline * 1000 <= Date.now()) failure = { reason: 'DeadlineExceeded', message: 'Job was active longer than specified deadline' };
      if (failure) {
        await deletePods(active);
        conditions = setCondition(conditions, { type: 'FailureTarget', status: 'True', ...failure }, now);
        conditions = setCondition(conditions, { type: 'Failed', status: 'True', ...failure }, now);
        finished = 'Failed';
        this.d.events.record(job, 'Warning', failure.reason, failure.message);
      } else if (done) {
        await deletePods(active);
        conditions = setCondition(conditions, { type: 'SuccessCriteriaMet', status: 'True', reason: 'CompletionsReached', message: 'Reached expected number of succeeded pods' }, now);
        conditions = setCondition(conditions, { type: 'Complete', status: 'True', reason: 'CompletionsReached', message: 'Reached expected number of succeeded pods' }, now);
        completionTime = now;
        finished = 'Complete';
        this.d.events.record(job, 'Normal', 'Completed', 'Job completed');
      } else if (job.spec?.suspend) {
        await deletePods(active);
        conditions = setCondition(conditions, { type: 'Suspended', status: 'True', reason: 'JobSuspended', message: 'Job suspended' }, now);
      } else {
        if (conditions.some((c: any) => c.type === 'Suspended' && c.status === 'True')) {
          conditions = setCondition(conditions, { type: 'Suspended', status: 'False', reason: 'JobResumed', message: 'Job resumed' }, now);
        }
        if (this.expect.satisfied(key)) await this.manage(job, key, active, failedPods, succeededIndexes, completions, parallelism, succeeded);
        if (deadline !== undefined && startTime) this.queue.addAfter(key, Math.max(0, Date.parse(startTime) + deadline * 1000 - Date.now()) + 50);
      }
    } else if (finished && active.length > 0) {
      await deletePods(active);
    }

    const status: Record<string, unknown> = {
      active: finished ? 0 : active.length,
      succeeded,
      failed,
      ready: active.filter(podReady).length,
      terminating: pods.filter((p) => p.metadata.deletionTimestamp).length,
      uncountedTerminatedPods: {},
    };
    if (startTime) status.startTime = startTime;
    if (completionTime) status.completionTime = completionTime;
    if (conditions.length) status.conditions = conditions;
    if (indexed) {
      status.completedIndexes = formatIndexes(succeededIndexes);
    }
    if (statusChanged(job.status, status)) await api.patch(this.jobPath(ns, name, '/status'), { status });

    // ttlSecondsAfterFinished: the TTL controller's job, folded in here.
    const ttl = job.spec?.ttlSecondsAfterFinished;
    if (finished && ttl !== undefined) {
      const at = Date.parse(completionTime ?? conditions.find((c: any) => c.type === finished)?.lastTransitionTime ?? now) + ttl * 1000;
      if (at <= Date.now()) await api.delete(this.jobPath(ns, name), { propagationPolicy: 'Background' });
      else this.queue.addAfter(key, at - Date.now() + 50);
    }
  }

  private async manage(job: KubeObject, key: string, active: KubeObject[], failedPods: KubeObject[], succeededIndexes: number[], completions: number | null, parallelism: number, succeeded: number): Promise<void> {
    const ns = job.metadata.namespace!;
    const name = job.metadata.name!;
    const indexed = job.spec?.completionMode === 'Indexed';
    const remaining = completions === null ? (succeeded > 0 ? 0 : parallelism) : completions - succeeded;
    const want = Math.max(0, Math.min(parallelism, remaining));
    if (active.length > want) {
      for (const p of active.slice(want)) {
        this.expect.deleted(key, `${ns}/${p.metadata.name}`);
        await this.d.api.delete(`/api/v1/namespaces/${ns}/pods/${encodeURIComponent(p.metadata.name!)}`);
      }
      return;
    }
    let toCreate = want - active.length;
    if (toCreate <= 0) return;
    // Exponential backoff after failures, measured from the newest failure.
    if (failedPods.length > 0) {
      const lastFail = Math.max(...failedPods.map((p) => Date.parse(p.status?.containerStatuses?.[0]?.state?.terminated?.finishedAt ?? p.metadata.creationTimestamp ?? '') || 0));
      const delay = Math.min((this.opts.backoffBaseMs ?? 1000) * 2 ** (failedPods.length - 1), this.opts.backoffMaxMs ?? 60_000);
      const wait = lastFail + delay - Date.now();
      if (wait > 0) {
        this.queue.addAfter(key, wait + 20);
        return;
      }
    }
    const refusedWait = this.refused.wait(key);
    if (refusedWait > 0) {
      this.queue.addAfter(key, refusedWait);
      return;
    }
    const busy = new Set([...active.map(podIndex), ...succeededIndexes]);
    const free: number[] = [];
    if (indexed) for (let i = 0; i < completions! && free.length < toCreate; i++) if (!busy.has(i)) free.push(i);
    if (indexed) toCreate = Math.min(toCreate, free.length);
    const uid = job.metadata.uid!;
    for (let n = 0; n < toCreate; n++) {
      const labels: Record<string, string> = { 'batch.kubernetes.io/controller-uid': uid, 'batch.kubernetes.io/job-name': name, 'controller-uid': uid, 'job-name': name };
      const index = indexed ? free[n]! : undefined;
      if (index !== undefined) labels[INDEX] = String(index);
      const pod = podFromTemplate(job.spec.template, ns, ownerRefTo(job, 'batch/v1', 'Job'), { generateName: index !== undefined ? `${name}-${index}-` : `${name}-`, labels });
      if (index !== undefined) {
        pod.metadata.annotations = { ...(pod.metadata.annotations ?? {}), [INDEX]: String(index) };
        pod.spec.hostname ??= `${name}-${index}`;
        for (const c of pod.spec.containers ?? []) c.env = [...(c.env ?? []), { name: 'JOB_COMPLETION_INDEX', valueFrom: { fieldRef: { fieldPath: `metadata.annotations['${INDEX}']` } } }];
      }
      let created: KubeObject;
      try {
        created = await this.d.api.post(`/api/v1/namespaces/${ns}/pods`, pod);
      } catch (e) {
        // Refusals (Pod Security, quota) show on the Job as the real controller reports them, retried with back-off.
        this.d.events.record(job, 'Warning', 'FailedCreate', `Error creating: ${failureText(e)}`);
        this.queue.addAfter(key, this.refused.failed(key));
        return;
      }
      this.refused.succeeded(key);
      this.expect.created(key, `${ns}/${created.metadata.name}`);
      this.d.events.record(job, 'Normal', 'SuccessfulCreate', `Created pod: ${created.metadata.name}`);
    }
  }
}
