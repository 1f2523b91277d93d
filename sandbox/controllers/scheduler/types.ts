/**
 * What one scheduling filter answers about one node, shaped like the real
 * scheduler's framework.Status: the short reason that goes into the
 * `0/N nodes are available: …` histogram, and whether evicting other pods
 * (preemption) could ever help, which decides the `preemption:` half of the
 * FailedScheduling message.
 */
import type { KubeObject } from '../client.ts';

export interface Rejection {
  reason: string;
  /** UnschedulableAndUnresolvable in the real framework: preemption cannot help. */
  unresolvable: boolean;
}

/** undefined = the node passes. */
export type FilterResult = Rejection | undefined;

/** Everything a filter may look at besides the pod and the node: the volume objects and the pods already placed. */
export interface ClusterView {
  pvc(namespace: string, name: string): KubeObject | undefined;
  pv(name: string): KubeObject | undefined;
  /** The claim's StorageClass binds at first use (`volumeBindingMode: WaitForFirstConsumer`). */
  delayedBinding(pvc: KubeObject): boolean;
  /** Pods bound (or about to be bound) to nodes, not finished. */
  placedPods(): KubeObject[];
}

export type Toleration = { key?: string; operator?: 'Exists' | 'Equal'; value?: string; effect?: string };
export type Taint = { key: string; value?: string; effect: string };
