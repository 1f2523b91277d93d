/**
 * The audit log: one entry per request (who, verb, what, answer code), kept
 * in memory in a ring of bounded size. It records what clients actually did,
 * so a suite can compare it with the RBAC a manifest grants.
 */
import type { Attributes } from './types.ts';

export interface AuditEvent {
  /** ISO time the request arrived. */
  time: string;
  username: string;
  groups: string[];
  verb: string;
  /** Resource requests. */
  apiGroup?: string;
  resource?: string;
  subresource?: string;
  namespace?: string;
  name?: string;
  /** Non-resource requests (`/healthz`). */
  path?: string;
  code: number;
}

export class AuditLog {
  private readonly ring: (AuditEvent | undefined)[];
  private next = 0;
  private total = 0;

  constructor(readonly capacity = 10_000) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`audit capacity must be a positive integer, got ${capacity}`);
    this.ring = new Array(capacity);
  }

  record(a: Attributes, code: number, time: number): void {
    this.ring[this.next] = {
      time: new Date(time).toISOString(),
      username: a.user.username,
      groups: a.user.groups,
      verb: a.verb,
      ...(a.resourceRequest
        ? { apiGroup: a.apiGroup, resource: a.resource, ...(a.subresource ? { subresource: a.subresource } : {}), ...(a.namespace !== undefined ? { namespace: a.namespace } : {}), ...(a.name ? { name: a.name } : {}) }
        : { path: a.path }),
      code,
    };
    this.next = (this.next + 1) % this.capacity;
    this.total++;
  }

  /** Entries oldest first (at most `capacity`; `dropped` says how many older ones were overwritten). */
  events(): AuditEvent[] {
    const n = Math.min(this.total, this.capacity);
    const start = this.total > this.capacity ? this.next : 0;
    const out: AuditEvent[] = [];
    for (let i = 0; i < n; i++) out.push(this.ring[(start + i) % this.capacity]!);
    return out;
  }

  get dropped(): number {
    return Math.max(0, this.total - this.capacity);
  }
}
