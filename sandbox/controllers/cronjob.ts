/**
 * CronJob controller: creates a Job per scheduled time (named
 * `<cronjob>-<minutes since epoch>` like Kubernetes), honours
 * concurrencyPolicy, startingDeadlineSeconds, suspend and the job history
 * limits, and reports active jobs and last schedule/success times.
 */
import { isConflict, type KubeObject } from './client.ts';
import { nextRun, parseFrequency, previousSlot, ScheduleError, type Schedule } from '../../compiler/schedule/index.ts';
import { type Informer, WorkQueue } from './informer.ts';
import { jobFinished } from './job.ts';
import type { ControllerDeps } from './replicaset.ts';
import { isOwnedBy, ownerRefTo, statusChanged } from './workload.ts';

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');

export class CronJobController {
  readonly queue: WorkQueue;

  constructor(
    private readonly d: ControllerDeps,
    readonly cronjobs: Informer,
    private readonly jobs: Informer,
    private readonly now: () => number = Date.now,
  ) {
    this.queue = new WorkQueue((k) => this.sync(k), d.log);
    cronjobs.on((_t, o) => this.queue.add(`${o.metadata.namespace}/${o.metadata.name}`));
  }

  stop(): void {
    this.queue.stop();
  }

  private async sync(key: string): Promise<void> {
    const [ns, name] = key.split('/') as [string, string];
    const cj = this.cronjobs.get(ns, name);
    if (!cj || cj.metadata.deletionTimestamp) return;
    const api = this.d.api;
    const now = this.now();
    const owned = this.jobs.list((j) => j.metadata.namespace === ns && isOwnedBy(j, cj));
    let active = owned.filter((j) => !jobFinished(j));
    // The policy compiler's schedules: the same cron dialect, time zones and DST rules as Coffer's own.
    let schedule: Schedule;
    try {
      schedule = parseFrequency(cj.spec?.schedule ?? '', cj.spec?.timeZone ?? 'UTC');
    } catch (e) {
      if (e instanceof ScheduleError) {
        this.d.events.record(cj, 'Warning', 'UnparseableSchedule', `unparseable schedule: "${cj.spec?.schedule}" : ${e.message}`);
        return;
      }
      throw e;
    }
    const status: Record<string, unknown> = {};
    let lastSchedule = cj.status?.lastScheduleTime ? Date.parse(cj.status.lastScheduleTime) : Date.parse(cj.metadata.creationTimestamp ?? iso(now));
    if (!cj.spec?.suspend) {
      const slot = previousSlot(schedule, new Date(now))?.getTime();
      const due = slot !== undefined && slot > lastSchedule ? slot : undefined;
      const deadline = cj.spec?.startingDeadlineSeconds;
      if (due !== undefined && (deadline === undefined || now - due <= deadline * 1000)) {
        const policy = cj.spec?.concurrencyPolicy ?? 'Allow';
        if (policy === 'Forbid' && active.length > 0) {
          this.d.events.record(cj, 'Normal', 'JobAlreadyActive', 'Not starting job because prior execution is running and concurrency policy is Forbid');
        } else {
          if (policy === 'Replace') {
            for (const j of active) {
              await api.delete(`/apis/batch/v1/namespaces/${ns}/jobs/${encodeURIComponent(j.metadata.name!)}`, { propagationPolicy: 'Background' });
              this.d.events.record(cj, 'Normal', 'SuccessfulDelete', `Deleted job ${j.metadata.name}`);
            }
            active = [];
          }
          const jobName = `${name}-${Math.floor(due / 60_000)}`;
          const tmpl = cj.spec?.jobTemplate ?? {};
          const job: KubeObject = {
            apiVersion: 'batch/v1',
            kind: 'Job',
            metadata: {
              name: jobName,
              namespace: ns,
              labels: { ...(tmpl.metadata?.labels ?? {}) },
              annotations: { ...(tmpl.metadata?.annotations ?? {}), 'batch.kubernetes.io/cronjob-scheduled-timestamp': iso(due) },
              ownerReferences: [ownerRefTo(cj, 'batch/v1', 'CronJob')],
            },
            spec: structuredClone(tmpl.spec ?? {}),
          };
          try {
            const created = await api.post(`/apis/batch/v1/namespaces/${ns}/jobs`, job);
            active.push(created);
            this.d.events.record(cj, 'Normal', 'SuccessfulCreate', `Created job ${jobName}`);
          } catch (e) {
            if (!isConflict(e)) throw e;
          }
        }
        lastSchedule = due;
        status.lastScheduleTime = iso(due);
      }
      const next = nextRun(schedule, new Date(now)).getTime();
      this.queue.addAfter(key, Math.min(next - now + 100, 2 ** 31 - 1));
    }
    status.active = active.length ? active.map((j) => ({ kind: 'Job', namespace: ns, name: j.metadata.name, uid: j.metadata.uid, apiVersion: 'batch/v1', resourceVersion: j.metadata.resourceVersion })) : undefined;
    const succeeded = owned.filter((j) => jobFinished(j) === 'Complete');
    const lastOk = succeeded.map((j) => j.status?.completionTime).filter(Boolean).sort().pop();
    if (lastOk) status.lastSuccessfulTime = lastOk;
    if (cj.status?.lastScheduleTime && !status.lastScheduleTime) status.lastScheduleTime = cj.status.lastScheduleTime;
    if (statusChanged(cj.status, status)) {
      await api.patch(`/apis/batch/v1/namespaces/${ns}/cronjobs/${encodeURIComponent(name)}/status`, { status: { ...status, active: status.active ?? null } });
    }
    // History limits: oldest finished jobs beyond the limits go (with their pods).
    const byStart = (a: KubeObject, b: KubeObject) => (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? '');
    const failed = owned.filter((j) => jobFinished(j) === 'Failed').sort(byStart);
    const done = [...succeeded].sort(byStart);
    const extra = [
      ...done.slice(0, Math.max(0, done.length - (cj.spec?.successfulJobsHistoryLimit ?? 3))),
      ...failed.slice(0, Math.max(0, failed.length - (cj.spec?.failedJobsHistoryLimit ?? 1))),
    ];
    for (const j of extra) await api.delete(`/apis/batch/v1/namespaces/${ns}/jobs/${encodeURIComponent(j.metadata.name!)}`, { propagationPolicy: 'Background' });
  }
}
