/**
 * The pure part of leader election, as client-go's leaderelection does it: whether to create, renew, take over or wait
 * for a Lease, given what we read and when we first saw that version. Expiry is judged on our own clock from the moment
 * we first observed the holder's current renewal, never by comparing the holder's renewTime with our clock, so clock
 * skew between replicas cannot make two of them leader at once.
 */
export interface LeaseRecord {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
  resourceVersion?: string;
}

export interface Observation {
  /** Identity of the record version we saw (holder + renewTime + resourceVersion). */
  key: string;
  /** Our clock when we first saw it. */
  atMs: number;
}

export type LeaseAction =
  | { action: 'create' }
  | { action: 'renew' }
  | { action: 'takeover'; reason: 'released' | 'expired' }
  | { action: 'wait'; holder: string; retryAtMs: number };

export function observationKey(r: LeaseRecord): string {
  return `${r.holderIdentity ?? ''}|${r.renewTime ?? ''}|${r.resourceVersion ?? ''}`;
}

/**
 * Decide what to do with a Lease we just read (undefined: it does not exist). Returns the observation to remember for
 * the next call: the same as `previous` while the record has not changed, so its age keeps counting.
 */
export function decideLease(
  current: LeaseRecord | undefined,
  identity: string,
  nowMs: number,
  previous: Observation | undefined,
  defaultDurationSeconds: number,
): { decision: LeaseAction; observed: Observation | undefined } {
  if (!current) return { decision: { action: 'create' }, observed: undefined };
  const key = observationKey(current);
  const observed = previous && previous.key === key ? previous : { key, atMs: nowMs };
  const holder = current.holderIdentity ?? '';
  if (holder === identity) return { decision: { action: 'renew' }, observed };
  if (holder === '') return { decision: { action: 'takeover', reason: 'released' }, observed };
  const durationMs = (current.leaseDurationSeconds ?? defaultDurationSeconds) * 1000;
  const expiresAt = observed.atMs + durationMs;
  if (nowMs >= expiresAt) return { decision: { action: 'takeover', reason: 'expired' }, observed };
  return { decision: { action: 'wait', holder, retryAtMs: expiresAt }, observed };
}
