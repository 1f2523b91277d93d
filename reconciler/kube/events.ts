import { readFileSync } from 'node:fs';
import type { KubeClient } from './client.ts';
import type { KubeObject } from './types.ts';

/** The object an Event is about (core/v1 ObjectReference). */
export interface InvolvedObject {
  apiVersion: string;
  kind: string;
  name: string;
  namespace: string;
  uid: string;
}

const SA_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/**
 * What Coffer's own Events are about: its Deployment (pod → controlling ReplicaSet → controlling Deployment), or its
 * Pod when no Deployment controls it. Found from POD_NAME (deploy/ sets it from the downward API) and POD_NAMESPACE
 * or the ServiceAccount's namespace file. Outside a pod there is nothing to attach Events to: undefined.
 */
export async function findInvolvedObject(client: KubeClient, env: NodeJS.ProcessEnv): Promise<InvolvedObject | undefined> {
  const pod = env.POD_NAME;
  let namespace = env.POD_NAMESPACE;
  if (!namespace) {
    try {
      namespace = readFileSync(SA_NAMESPACE_FILE, 'utf8').trim();
    } catch {
      return undefined;
    }
  }
  if (!pod || !namespace) return undefined;
  const podObj = await client.find('v1', 'pods', namespace, pod);
  if (!podObj) return undefined;
  const ref = (o: KubeObject, apiVersion: string, kind: string): InvolvedObject => ({ apiVersion, kind, name: o.metadata.name, namespace: namespace!, uid: o.metadata.uid ?? '' });
  const controller = (o: KubeObject, kind: string) => o.metadata.ownerReferences?.find((r) => r.controller && r.kind === kind);
  const rsRef = controller(podObj, 'ReplicaSet');
  const rs = rsRef ? await client.find('apps/v1', 'replicasets', namespace, rsRef.name) : undefined;
  const depRef = rs ? controller(rs, 'Deployment') : undefined;
  const dep = depRef ? await client.find('apps/v1', 'deployments', namespace, depRef.name) : undefined;
  return dep ? ref(dep, 'apps/v1', 'Deployment') : ref(podObj, 'v1', 'Pod');
}

/** A Namespace as the object of an Event (written into that namespace): what Events are about outside a pod. */
export async function namespaceReference(client: KubeClient, name: string): Promise<InvolvedObject> {
  const ns = await client.get('v1', 'namespaces', undefined, name);
  return { apiVersion: 'v1', kind: 'Namespace', name, namespace: name, uid: ns.metadata.uid ?? '' };
}

export interface EventRecorderOptions {
  client: KubeClient;
  /** Resolved once, on the first event. */
  object: () => Promise<InvolvedObject | undefined>;
  /** source.component / reportingController (e.g. `coffer`). */
  component: string;
  /** reportingInstance / source.host: this replica. */
  instance: string;
  now?: () => Date;
  log?: (e: Record<string, unknown>) => void;
}

/** Repeats of one event within this window update its count, as client-go's EventCorrelator does (10 minutes). */
const AGGREGATE_MS = 10 * 60_000;
const MAX_MESSAGE = 1024;

/**
 * core/v1 Events about Coffer itself, written best effort (a failure is logged, never thrown: an Event must not stop
 * the work it reports). The same type + reason + message within 10 minutes bumps `count` and `lastTimestamp` of the
 * Event already written instead of adding one, so a retry loop leaves one line in `kubectl describe`, not hundreds.
 */
export class EventRecorder {
  private target: Promise<InvolvedObject | undefined> | undefined;
  private readonly seen = new Map<string, { name: string; count: number; last: number }>();
  private queue: Promise<void> = Promise.resolve();
  private seq = 0;
  private readonly now: () => Date;

  constructor(private readonly o: EventRecorderOptions) {
    this.now = o.now ?? (() => new Date());
  }

  record(type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    this.queue = this.queue.then(() => this.write(type, reason, message.slice(0, MAX_MESSAGE))).catch((e: Error) => this.o.log?.({ event: 'error', message: `Event ${reason} not recorded: ${e.message}` }));
    return this.queue;
  }

  private async write(type: string, reason: string, message: string): Promise<void> {
    this.target ??= this.o.object().catch((e: Error) => {
      this.o.log?.({ event: 'error', message: `cannot find the object Events are about: ${e.message}` });
      return undefined;
    });
    const obj = await this.target;
    if (!obj) return;
    const now = this.now();
    const time = now.toISOString().replace(/\.\d{3}Z$/, 'Z');
    const key = `${type}\0${reason}\0${message}`;
    const prior = this.seen.get(key);
    if (prior && now.getTime() - prior.last < AGGREGATE_MS) {
      prior.count++;
      prior.last = now.getTime();
      try {
        await this.o.client.mergePatch('v1', 'events', obj.namespace, prior.name, { count: prior.count, lastTimestamp: time });
        return;
      } catch {
        // Deleted meanwhile (Events expire after an hour by default): write a new one.
      }
    }
    // client-go names Events `<object>.<hex nanoseconds>`; a sequence number keeps two in one millisecond apart.
    const name = `${obj.name}.${(BigInt(now.getTime()) * 1_000_000n + BigInt(this.seq++ % 1_000_000)).toString(16)}`;
    await this.o.client.create('v1', 'events', obj.namespace, {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace: obj.namespace },
      involvedObject: obj,
      type,
      reason,
      message,
      count: 1,
      firstTimestamp: time,
      lastTimestamp: time,
      source: { component: this.o.component, host: this.o.instance },
      reportingComponent: this.o.component,
      reportingInstance: this.o.instance,
    } as unknown as KubeObject);
    if (this.seen.size >= 200) this.seen.delete(this.seen.keys().next().value!);
    this.seen.set(key, { name, count: 1, last: now.getTime() });
  }
}
