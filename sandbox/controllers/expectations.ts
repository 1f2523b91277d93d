/**
 * Controller expectations (as in kube-controller-manager): after creating or
 * deleting pods, a controller does not act on its owner again until its
 * informer has seen those changes, so a lagging cache never causes duplicate
 * pods or double deletes.
 */
import type { Informer } from './informer.ts';

interface Pending {
  creates: Set<string>;
  deletes: Set<string>;
  deadline: number;
}

export class Expectations {
  private readonly pending = new Map<string, Pending>();

  constructor(
    private readonly pods: Informer,
    private readonly timeoutMs = 10_000,
  ) {}

  private entry(owner: string): Pending {
    let p = this.pending.get(owner);
    if (!p) {
      p = { creates: new Set(), deletes: new Set(), deadline: 0 };
      this.pending.set(owner, p);
    }
    p.deadline = Date.now() + this.timeoutMs;
    return p;
  }

  /** `key` is namespace/name of the created pod (as the server named it). */
  created(owner: string, key: string): void {
    this.entry(owner).creates.add(key);
  }

  deleted(owner: string, key: string): void {
    this.entry(owner).deletes.add(key);
  }

  /** True when the cache reflects every change this owner made (or they timed out). */
  satisfied(owner: string): boolean {
    const p = this.pending.get(owner);
    if (!p) return true;
    for (const key of p.creates) {
      const [ns, name] = key.split('/') as [string, string];
      if (this.pods.get(ns, name)) p.creates.delete(key);
    }
    for (const key of p.deletes) {
      const [ns, name] = key.split('/') as [string, string];
      const pod = this.pods.get(ns, name);
      if (!pod || pod.metadata.deletionTimestamp) p.deletes.delete(key);
    }
    if ((p.creates.size === 0 && p.deletes.size === 0) || Date.now() > p.deadline) {
      this.pending.delete(owner);
      return true;
    }
    return false;
  }

  forget(owner: string): void {
    this.pending.delete(owner);
  }
}
