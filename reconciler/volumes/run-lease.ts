/**
 * Run Leases: what keeps the start-up sweep away from a live run it cannot otherwise see. The controller moves data
 * only while holding the reconciler Lease, so its sweep (taken with that Lease) never meets its own live runs — but a
 * `coffer backup` from a workstation does not take that Lease. Such a run holds `coffer-run-<run>` (coordination.k8s.io
 * Lease in the mover namespace) while its movers exist, renewing it, and deletes it at the end. The sweep keeps the
 * objects of a run whose Lease is renewed, and sweeps (and deletes the Lease of) a run whose holder stopped renewing.
 * Expiry is judged as decide.ts judges the reconciler Lease: on the sweeper's own clock from when it first saw the
 * holder's current renewal, never by comparing the holder's renewTime with our clock.
 */
import { hostname } from 'node:os';
import { isNotFound, type KubeClient } from '../kube/client.ts';
import { LeaseLock, decideLease } from '../lease/index.ts';
import type { Observation } from '../lease/decide.ts';

export const runLeaseName = (run: string): string => `coffer-run-${run}`;

/** Who holds a workstation's run Leases: this machine and process (what `kubectl get lease` shows as the holder). */
export const workstationIdentity = (): string => `${hostname()}-${process.pid}`;

/** Default lifetime of a run Lease: how long a sweep waits for a holder that may have died (kube-controller-manager's 15 s). */
export const RUN_LEASE_SECONDS = 15;

/** A run Lease could not be taken: the run does not start. */
export class RunLeaseError extends Error {
  readonly code = 'E_RUN_LEASE';
}

export interface RunLeaseOptions {
  client: KubeClient;
  namespace: string;
  run: string;
  identity: string;
  durationSeconds?: number;
}

/**
 * Runs `work` while holding the run's Lease (created, then renewed every third of its duration), then deletes the
 * Lease. A Lease that cannot be taken (RBAC, no namespace) fails the run before it moves anything.
 */
export async function withRunLease<T>(o: RunLeaseOptions, work: () => Promise<T>): Promise<T> {
  const lock = new LeaseLock({ kubeConfig: o.client.kc, namespace: o.namespace, name: runLeaseName(o.run), identity: o.identity, leaseDurationSeconds: o.durationSeconds ?? RUN_LEASE_SECONDS });
  const where = `run Lease ${o.namespace}/${lock.name}`;
  const first = await lock.tryAcquire().catch((e: Error) => {
    throw new RunLeaseError(`${where} could not be taken (${e.message}); a run outside the controller holds one so a controller's start-up sweep keeps its movers: grant get, create, update and delete on leases in ${o.namespace} (Role coffer in deploy/base/rbac.yaml)`);
  });
  if (!first.held) throw new RunLeaseError(`${where} is held by ${first.holder}`);
  // A failed renewal is retried at the next tick; the sweep waits a whole duration before it calls the run dead.
  const renew = setInterval(() => void lock.tryAcquire().catch(() => undefined), Math.max(200, (lock.durationSeconds * 1000) / 3));
  try {
    return await work();
  } finally {
    clearInterval(renew);
    await o.client.delete('coordination.k8s.io/v1', 'leases', o.namespace, lock.name).catch((e: unknown) => {
      if (!isNotFound(e)) throw e;
    });
  }
}

/**
 * Whether run `run` still moves data somewhere: its Lease exists, has a holder, and that holder renewed it within one
 * lease duration as observed here. Polls (every `pollMs`) for at most 1.5 lease durations. A run without a Lease (the
 * controller's own, which the reconciler Lease covers) is not alive; an expired or released Lease is deleted.
 */
export async function runIsAlive(o: { client: KubeClient; namespace: string; run: string; pollMs?: number; now?: () => number }): Promise<boolean> {
  const now = o.now ?? Date.now;
  const name = runLeaseName(o.run);
  let observed: Observation | undefined;
  let boundMs: number | undefined;
  for (;;) {
    const lease = await o.client.find<{ apiVersion: string; kind: string; metadata: { name: string; resourceVersion?: string }; spec?: { holderIdentity?: string; leaseDurationSeconds?: number; renewTime?: string } }>('coordination.k8s.io/v1', 'leases', o.namespace, name);
    if (!lease) return false;
    const t = now();
    const duration = lease.spec?.leaseDurationSeconds ?? RUN_LEASE_SECONDS;
    boundMs ??= t + duration * 1500;
    const record = { ...lease.spec, ...(lease.metadata.resourceVersion ? { resourceVersion: lease.metadata.resourceVersion } : {}) };
    const first = observed;
    const { decision, observed: seen } = decideLease(record, 'coffer-sweep', t, observed, duration);
    observed = seen;
    if (decision.action === 'takeover') {
      await o.client.delete('coordination.k8s.io/v1', 'leases', o.namespace, name).catch(() => undefined);
      return false;
    }
    // Renewed since we first looked: the holder is alive.
    if (first && seen && first.key !== seen.key) return true;
    if (t >= boundMs) return true;
    await new Promise((r) => setTimeout(r, o.pollMs ?? 1000));
  }
}
