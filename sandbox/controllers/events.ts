/**
 * Records core/v1 Events the way client-go's recorder does (one object per
 * involved object + reason + message, `count` bumped on repeats), so
 * `kubectl describe` and `kubectl get events` tell the user what happened.
 */
import { randomBytes } from 'node:crypto';
import type { ApiClient, KubeObject } from './client.ts';

export type EventType = 'Normal' | 'Warning';

export class EventRecorder {
  private readonly seen = new Map<string, { name: string; namespace: string; count: number }>();

  constructor(
    private readonly api: ApiClient,
    private readonly component: string,
    private readonly host: string,
    private readonly log: (line: string) => void = () => {},
  ) {}

  /** Fire-and-forget: an event that cannot be written never fails the controller. */
  record(obj: KubeObject, type: EventType, reason: string, message: string): void {
    void this.write(obj, type, reason, message).catch((e) => this.log(`event ${reason} for ${obj.metadata.name}: ${(e as Error).message}`));
  }

  private async write(obj: KubeObject, type: EventType, reason: string, message: string): Promise<void> {
    const namespace = obj.metadata.namespace ?? 'default';
    const key = `${obj.metadata.uid}/${reason}/${message}`;
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const prev = this.seen.get(key);
    if (prev) {
      prev.count++;
      await this.api.patch(`/api/v1/namespaces/${prev.namespace}/events/${prev.name}`, { count: prev.count, lastTimestamp: now });
      return;
    }
    const name = `${obj.metadata.name}.${randomBytes(8).toString('hex')}`;
    this.seen.set(key, { name, namespace, count: 1 });
    if (this.seen.size > 10_000) this.seen.delete(this.seen.keys().next().value!);
    await this.api.post(`/api/v1/namespaces/${namespace}/events`, {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace },
      involvedObject: {
        apiVersion: obj.apiVersion,
        kind: obj.kind,
        name: obj.metadata.name,
        namespace: obj.metadata.namespace,
        uid: obj.metadata.uid,
        resourceVersion: obj.metadata.resourceVersion,
      },
      reason,
      message,
      type,
      count: 1,
      firstTimestamp: now,
      lastTimestamp: now,
      source: { component: this.component, host: this.host },
      reportingComponent: this.component,
      reportingInstance: this.host,
    });
  }
}
