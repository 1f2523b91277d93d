/**
 * Entry point the sandbox API server calls once it listens: registers the
 * nodes and starts every controller (scheduler, kubelet, node lifecycle,
 * ReplicaSet, Deployment, StatefulSet, DaemonSet, Job, disruption budgets,
 * storage provisioning, CSI snapshots) as ordinary API clients
 * over HTTP and returns the pod subresource handlers it must route to.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { ControllerOptions, RunningControllers } from '../runtime/types.ts';
import { Kubelet } from '../runtime/kubelet.ts';
import { podSubresources } from '../runtime/subresources.ts';
import { ApiClient, type KubeObject } from './client.ts';
import { DaemonSetController } from './daemonset.ts';
import { DeploymentController } from './deployment.ts';
import { EventRecorder } from './events.ts';
import { Informer, type WorkQueue } from './informer.ts';
import { JobController } from './job.ts';
import { CronJobController } from './cronjob.ts';
import { DisruptionController } from './disruption.ts';
import { NodeController, registerNodes, resolveNodeCount, sandboxNodeNames } from './node.ts';
import { ReplicaSetController } from './replicaset.ts';
import { SchedulerController } from './scheduler/controller.ts';
import { SnapshotController } from './snapshots.ts';
import { StatefulSetController } from './statefulset.ts';
import { StorageController } from './storage.ts';
import { controllerRef } from './workload.ts';

export type { ControllerOptions, RunningControllers, PodSubresources, PodTarget } from '../runtime/types.ts';

export async function startControllers(opts: ControllerOptions): Promise<RunningControllers> {
  const log = opts.log ?? (() => {});
  const dataDir = path.resolve(opts.dataDir);
  const nodeNames = sandboxNodeNames(resolveNodeCount(dataDir, opts.nodes));
  const nodeName = nodeNames[0]!;
  await mkdir(path.join(dataDir, 'pods'), { recursive: true });
  await mkdir(path.join(dataDir, 'volumes'), { recursive: true });
  await mkdir(path.join(dataDir, 'snapshots'), { recursive: true });
  const api = await ApiClient.create(opts.kubeConfig);
  const inf = (p: string) => new Informer(api, p, log);
  const informers = {
    pods: inf('/api/v1/pods'),
    nodes: inf('/api/v1/nodes'),
    pdbs: inf('/apis/policy/v1/poddisruptionbudgets'),
    replicasets: inf('/apis/apps/v1/replicasets'),
    deployments: inf('/apis/apps/v1/deployments'),
    statefulsets: inf('/apis/apps/v1/statefulsets'),
    daemonsets: inf('/apis/apps/v1/daemonsets'),
    jobs: inf('/apis/batch/v1/jobs'),
    cronjobs: inf('/apis/batch/v1/cronjobs'),
    pvcs: inf('/api/v1/persistentvolumeclaims'),
    pvs: inf('/api/v1/persistentvolumes'),
    storageclasses: inf('/apis/storage.k8s.io/v1/storageclasses'),
    snapshots: inf('/apis/snapshot.storage.k8s.io/v1/volumesnapshots'),
    contents: inf('/apis/snapshot.storage.k8s.io/v1/volumesnapshotcontents'),
    snapshotclasses: inf('/apis/snapshot.storage.k8s.io/v1/volumesnapshotclasses'),
  };

  await registerNodes(api, nodeNames);
  const events = new EventRecorder(api, 'kubelet', nodeName, log);
  const controllerEvents = (component: string) => new EventRecorder(api, component, nodeName, log);
  const deps = (component: string) => ({ api, pods: informers.pods, events: controllerEvents(component), log });

  const kubelet = new Kubelet({ api, pods: informers.pods, events, nodeName, nodeNames, dataDir, log });
  const scheduler = new SchedulerController({ api, pods: informers.pods, nodes: informers.nodes, pvcs: informers.pvcs, pvs: informers.pvs, classes: informers.storageclasses, events: controllerEvents('default-scheduler'), log });
  const nodes = new NodeController(api, informers.nodes, informers.pods, nodeNames, log);
  const disruption = new DisruptionController(deps('controllermanager'), informers.pdbs, { replicasets: informers.replicasets, statefulsets: informers.statefulsets });
  const replicasets = new ReplicaSetController(deps('replicaset-controller'), informers.replicasets);
  const deployments = new DeploymentController(deps('deployment-controller'), informers.deployments, informers.replicasets);
  const statefulsets = new StatefulSetController(deps('statefulset-controller'), informers.statefulsets, informers.pvcs);
  const daemonsets = new DaemonSetController(deps('daemonset-controller'), informers.daemonsets, informers.nodes);
  const jobs = new JobController(deps('job-controller'), informers.jobs);
  const cronjobs = new CronJobController(deps('cronjob-controller'), informers.cronjobs, informers.jobs);
  const storage = new StorageController({ api, pods: informers.pods, pvcs: informers.pvcs, pvs: informers.pvs, classes: informers.storageclasses, snapshots: informers.snapshots, contents: informers.contents, events: controllerEvents('persistentvolume-controller'), dataDir, log });
  const snapshots = new SnapshotController({
    api,
    snapshots: informers.snapshots,
    contents: informers.contents,
    classes: informers.snapshotclasses,
    pvcs: informers.pvcs,
    pvs: informers.pvs,
    events: controllerEvents('snapshot-controller'),
    dataDir,
    log,
    quiesce: (dir) => kubelet.quiesce(dir),
  });

  // Owned objects wake their controller: pods → RS/STS/DS/Job, ReplicaSets → Deployment.
  const byKind: Record<string, WorkQueue> = { ReplicaSet: replicasets.queue, StatefulSet: statefulsets.queue, DaemonSet: daemonsets.queue, Job: jobs.queue, Deployment: deployments.queue, CronJob: cronjobs.queue };
  const wakeOwner = (_t: string, obj: KubeObject) => {
    const ref = controllerRef(obj);
    const q = ref ? byKind[ref.kind] : undefined;
    if (ref && q) q.add(`${obj.metadata.namespace}/${ref.name}`);
  };
  informers.pods.on(wakeOwner);
  informers.replicasets.on(wakeOwner);
  informers.jobs.on(wakeOwner);

  for (const i of Object.values(informers)) i.start();
  await Promise.all(Object.values(informers).map((i) => i.synced));
  await storage.ensureDefaults();
  await snapshots.ensureDefaults();
  await nodes.start();

  // A slow level-triggered resync catches time-based transitions (minReadySeconds, deadlines).
  const resync = setInterval(() => {
    for (const [kind, q] of Object.entries(byKind)) {
      const inf = { ReplicaSet: informers.replicasets, StatefulSet: informers.statefulsets, DaemonSet: informers.daemonsets, Job: informers.jobs, Deployment: informers.deployments, CronJob: informers.cronjobs }[kind]!;
      for (const o of inf.list()) q.add(`${o.metadata.namespace}/${o.metadata.name}`);
    }
  }, 15_000);
  resync.unref();

  let stopped = false;
  return {
    podSubresources: podSubresources(kubelet),
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(resync);
      for (const c of [scheduler, nodes, disruption, replicasets, deployments, statefulsets, daemonsets, jobs, cronjobs, storage, snapshots]) c.stop();
      for (const i of Object.values(informers)) i.stop();
      await kubelet.stop();
      api.close();
    },
  };
}
