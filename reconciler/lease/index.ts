import { CoordinationV1Api, type KubeConfig, type V1Lease, V1MicroTime } from '@kubernetes/client-node';
import { decideLease, type LeaseRecord, type Observation } from './decide.ts';

export { decideLease, type LeaseAction, type LeaseRecord } from './decide.ts';

export interface LeaseLockOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  /** Lease name; one per reconciler deployment (default `coffer-reconciler`). */
  name?: string;
  /** This replica's identity (pod name + random suffix); must differ between replicas. */
  identity: string;
  /** How long a holder that stopped renewing keeps the lease (default 15 s, like kube-controller-manager). */
  leaseDurationSeconds?: number;
  /** Our clock; tests pass a fake one to expire leases without sleeping. */
  clock?: () => number;
}

/** The Lease API rejected us for a reason other than a race (RBAC, missing namespace): the operator must act. */
export class LeaseError extends Error {
  readonly code = 'E_LEASE';
}

export type AcquireResult =
  | { held: true; transition: 'created' | 'renewed' | 'released' | 'expired' }
  | { held: false; holder: string; retryAt?: Date };

/**
 * A coordination.k8s.io/v1 Lease used as a lock between reconciler replicas. Every write is a create or a replace
 * carrying the resourceVersion we read, so two replicas can never both win: the loser gets 409 Conflict, re-reads,
 * and sees the winner. `holds()` answers from our own clock whether the lease is still safely ours, so a replica cut
 * off from the API server stops starting work before another one can take over.
 */
export class LeaseLock {
  readonly name: string;
  readonly namespace: string;
  readonly identity: string;
  readonly durationSeconds: number;
  private readonly api: CoordinationV1Api;
  private readonly clock: () => number;
  private observed: Observation | undefined;
  private heldSinceRenewMs: number | undefined;

  constructor(opts: LeaseLockOptions) {
    this.name = opts.name ?? 'coffer-reconciler';
    this.namespace = opts.namespace;
    this.identity = opts.identity;
    this.durationSeconds = opts.leaseDurationSeconds ?? 15;
    this.api = opts.kubeConfig.makeApiClient(CoordinationV1Api);
    this.clock = opts.clock ?? Date.now;
  }

  /** True while our last successful acquire/renew is younger than the lease duration (minus a safety margin). */
  holds(): boolean {
    if (this.heldSinceRenewMs === undefined) return false;
    return this.clock() - this.heldSinceRenewMs < this.durationSeconds * 1000 * 0.8;
  }

  /** Acquire the lease, renew it if ours, or report who holds it. Safe to call repeatedly (it is the renew loop). */
  async tryAcquire(): Promise<AcquireResult> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const startMs = this.clock();
      const current = await this.read();
      const { decision, observed } = decideLease(current ? record(current) : undefined, this.identity, startMs, this.observed, this.durationSeconds);
      this.observed = observed;
      if (decision.action === 'wait') {
        this.heldSinceRenewMs = undefined;
        return { held: false, holder: decision.holder, retryAt: new Date(decision.retryAtMs) };
      }
      const now = new V1MicroTime(startMs);
      try {
        if (decision.action === 'create') {
          await this.api.createNamespacedLease({
            namespace: this.namespace,
            body: {
              apiVersion: 'coordination.k8s.io/v1',
              kind: 'Lease',
              metadata: { name: this.name, namespace: this.namespace },
              spec: { holderIdentity: this.identity, leaseDurationSeconds: this.durationSeconds, acquireTime: now, renewTime: now, leaseTransitions: 0 },
            },
          });
          this.heldSinceRenewMs = startMs;
          return { held: true, transition: 'created' };
        }
        const spec = { ...current!.spec };
        spec.holderIdentity = this.identity;
        spec.leaseDurationSeconds = this.durationSeconds;
        spec.renewTime = now;
        if (decision.action === 'takeover') {
          spec.acquireTime = now;
          spec.leaseTransitions = (spec.leaseTransitions ?? 0) + 1;
        }
        await this.api.replaceNamespacedLease({ name: this.name, namespace: this.namespace, body: { ...current!, spec } });
        this.heldSinceRenewMs = startMs;
        return { held: true, transition: decision.action === 'renew' ? 'renewed' : decision.reason };
      } catch (e) {
        if (status(e) === 409) continue; // someone wrote in between: re-read and decide again
        this.heldSinceRenewMs = undefined;
        throw wrap(e, this);
      }
    }
    this.heldSinceRenewMs = undefined;
    const latest = await this.read();
    return { held: false, holder: latest?.spec?.holderIdentity ?? '' };
  }

  /** Give the lease up (holder cleared) so another replica takes over at once instead of waiting for expiry. */
  async release(): Promise<boolean> {
    this.heldSinceRenewMs = undefined;
    const current = await this.read();
    if (!current || current.spec?.holderIdentity !== this.identity) return false;
    try {
      await this.api.replaceNamespacedLease({
        name: this.name,
        namespace: this.namespace,
        body: { ...current, spec: { ...current.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: new V1MicroTime(this.clock()) } },
      });
      return true;
    } catch (e) {
      if (status(e) === 409) return false;
      throw wrap(e, this);
    }
  }

  /** The lease as stored, or undefined when it does not exist. */
  async read(): Promise<V1Lease | undefined> {
    try {
      return await this.api.readNamespacedLease({ name: this.name, namespace: this.namespace });
    } catch (e) {
      if (status(e) === 404) return undefined;
      throw wrap(e, this);
    }
  }
}

export interface ElectionOptions {
  lock: LeaseLock;
  /** Renew/retry period (default a third of the lease duration). */
  retryPeriodMs?: number;
  onStartedLeading: () => void;
  onStoppedLeading: () => void;
  onError?: (e: unknown) => void;
}

/**
 * Keeps trying to lead: renews while leader, retries while follower; calls the callbacks on each change. Returns a
 * stop function that releases the lease if held (a clean shutdown hands over at once).
 */
export function startElection(opts: ElectionOptions): () => Promise<void> {
  const period = opts.retryPeriodMs ?? Math.max(250, (opts.lock.durationSeconds * 1000) / 3);
  let leading = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let inflight: Promise<void> = Promise.resolve();
  const tick = async (): Promise<void> => {
    try {
      const r = await opts.lock.tryAcquire();
      if (r.held && !leading) {
        leading = true;
        opts.onStartedLeading();
      } else if (!r.held && leading) {
        leading = false;
        opts.onStoppedLeading();
      }
    } catch (e) {
      opts.onError?.(e);
      if (leading && !opts.lock.holds()) {
        leading = false;
        opts.onStoppedLeading();
      }
    }
    if (!stopped) timer = setTimeout(() => (inflight = tick()), period);
  };
  inflight = tick();
  return async () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    await inflight;
    if (leading) {
      leading = false;
      opts.onStoppedLeading();
    }
    await opts.lock.release().catch((e) => opts.onError?.(e));
  };
}

function record(l: V1Lease): LeaseRecord {
  const s = l.spec ?? {};
  const r: LeaseRecord = {};
  if (s.holderIdentity !== undefined) r.holderIdentity = s.holderIdentity;
  if (s.leaseDurationSeconds !== undefined) r.leaseDurationSeconds = s.leaseDurationSeconds;
  if (s.renewTime) r.renewTime = new Date(s.renewTime).toISOString();
  if (s.acquireTime) r.acquireTime = new Date(s.acquireTime).toISOString();
  if (s.leaseTransitions !== undefined) r.leaseTransitions = s.leaseTransitions;
  if (l.metadata?.resourceVersion) r.resourceVersion = l.metadata.resourceVersion;
  return r;
}

function status(e: unknown): number | undefined {
  const c = (e as { code?: unknown }).code;
  return typeof c === 'number' ? c : undefined;
}

function wrap(e: unknown, l: LeaseLock): unknown {
  const s = status(e);
  if (s === undefined) return e;
  const body = (e as { body?: unknown }).body;
  let detail = '';
  try {
    detail = (typeof body === 'string' ? (JSON.parse(body) as { message?: string }) : (body as { message?: string }))?.message ?? '';
  } catch {
    detail = String(body ?? '');
  }
  return new LeaseError(`lease ${l.namespace}/${l.name}: HTTP ${s}${detail ? `: ${detail}` : ''}`);
}
