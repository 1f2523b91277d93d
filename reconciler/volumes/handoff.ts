import type { KubeClient } from '../kube/client.ts';
import { waitFor } from '../kube/wait.ts';
import { SnapshotError } from './snapshot.ts';

const GROUP = 'snapshot.storage.k8s.io/v1';

export interface HandedOffSnapshot {
  /** The VolumeSnapshot in the mover namespace, ready to restore a PVC from. */
  snapshot: string;
  /** Its pre-provisioned VolumeSnapshotContent (deletionPolicy Retain: the data belongs to the original). */
  content: string;
}

/**
 * Makes a ready VolumeSnapshot of the application's namespace usable in the mover namespace, so the mover's PVC, Job
 * and credentials never exist in the application's namespace: a pre-provisioned VolumeSnapshotContent naming the same
 * `snapshotHandle` (deletionPolicy Retain, so releasing it never deletes the data the original still owns) bound to a
 * VolumeSnapshot in `to` — the static provisioning the CSI snapshot docs describe, as Velero's CSI data mover does.
 */
export async function handOffSnapshot(
  client: KubeClient,
  opts: { from: { namespace: string; snapshot: string }; to: string; name: string; labels: Record<string, string>; timeoutMs?: number; signal?: AbortSignal },
): Promise<HandedOffSnapshot> {
  const what = `VolumeSnapshot ${opts.from.namespace}/${opts.from.snapshot}`;
  const vs = await client.get(GROUP, 'volumesnapshots', opts.from.namespace, opts.from.snapshot);
  const contentName = (vs.status as { boundVolumeSnapshotContentName?: string } | undefined)?.boundVolumeSnapshotContentName;
  if (!contentName) throw new SnapshotError(`${what} has no bound VolumeSnapshotContent`);
  const original = await client.get(GROUP, 'volumesnapshotcontents', undefined, contentName);
  const handle = (original.status as { snapshotHandle?: string } | undefined)?.snapshotHandle;
  const spec = (original.spec ?? {}) as { driver?: string; volumeSnapshotClassName?: string };
  if (!handle || !spec.driver) throw new SnapshotError(`VolumeSnapshotContent ${contentName} of ${what} has no snapshotHandle or driver yet`);
  const content = opts.name;
  await client.create(GROUP, 'volumesnapshotcontents', undefined, {
    apiVersion: GROUP,
    kind: 'VolumeSnapshotContent',
    metadata: { name: content, labels: opts.labels },
    spec: {
      deletionPolicy: 'Retain',
      driver: spec.driver,
      source: { snapshotHandle: handle },
      ...(spec.volumeSnapshotClassName ? { volumeSnapshotClassName: spec.volumeSnapshotClassName } : {}),
      volumeSnapshotRef: { namespace: opts.to, name: opts.name },
    },
  });
  const handedOff = { snapshot: opts.name, content };
  try {
    await client.create(GROUP, 'volumesnapshots', opts.to, {
      apiVersion: GROUP,
      kind: 'VolumeSnapshot',
      metadata: { name: opts.name, namespace: opts.to, labels: opts.labels },
      spec: { source: { volumeSnapshotContentName: content } },
    });
    await waitFor(
      async () => ((await client.get(GROUP, 'volumesnapshots', opts.to, opts.name)).status as { readyToUse?: boolean } | undefined)?.readyToUse === true || undefined,
      { timeoutMs: opts.timeoutMs ?? 5 * 60_000, signal: opts.signal, what: `VolumeSnapshot ${opts.to}/${opts.name} (handed off from ${what}) to be readyToUse` },
    );
  } catch (e) {
    // Half made (the snapshot refused, a timeout, an abort): leave nothing behind.
    await releaseHandOff(client, opts.to, handedOff).catch(() => undefined);
    throw e;
  }
  return handedOff;
}

/** Deletes a hand-off: the VolumeSnapshot, then its Retain content (the data stays with the original). Missing is fine. */
export async function releaseHandOff(client: KubeClient, namespace: string, h: HandedOffSnapshot): Promise<void> {
  await client.delete(GROUP, 'volumesnapshots', namespace, h.snapshot);
  await client.delete(GROUP, 'volumesnapshotcontents', undefined, h.content);
}
