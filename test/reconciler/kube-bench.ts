/**
 * Benchmark of the Kubernetes side of a backup (part of `npm run bench:reconcile`): a namespace of 1,000 objects and
 * 3 volumes on a fresh sandbox, backed up by `backupNamespace` (export, snapshots, 3 mover Jobs, manifest bundle)
 * into a filesystem repository. The anchor, measured in the same run, is `kubectl get` of the same resource types
 * as YAML — what a hand-rolled "dump the namespace" backup does — so `exportVsKubectl` is a ratio on equal work.
 * Run alone: `npx tsx test/reconciler/kube-bench.ts`.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { FileBackend, initRepository } from '../../repository/index.ts';
import { backupNamespace, exportNamespace } from '../../reconciler/export/index.ts';
import { discoverResources, mapLimit, type KubeObject } from '../../reconciler/kube/index.ts';
import { exportableResources } from '../../reconciler/export/exclusions.ts';
import { resourceId } from '../../reconciler/kube/types.ts';
import type { PlanPolicy } from '../../compiler/plan/types.ts';
import { createAll, startTestCluster, waitPodsReady } from './kube-cluster.ts';

const run = promisify(execFile);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

export async function runKubeBench(opts: { objects?: number; volumes?: number; volumeMiB?: number; reps?: number } = {}): Promise<Record<string, unknown>> {
  const nObjects = opts.objects ?? 1000;
  const nVolumes = opts.volumes ?? 3;
  const mib = opts.volumeMiB ?? 8;
  const reps = opts.reps ?? 3;
  const cluster = await startTestCluster();
  const ns = 'bench';
  try {
    const kubeconfig = join(cluster.dir, 'kubeconfig');
    writeFileSync(kubeconfig, cluster.client.kc.exportConfig());
    await createAll(cluster.client, [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } } as KubeObject]);
    // 1,000 objects: ConfigMaps, Secrets and Services in a realistic mix (the StatefulSet and its PVCs come on top).
    const objs: KubeObject[] = Array.from({ length: nObjects }, (_, i) => {
      const name = `obj-${String(i).padStart(4, '0')}`;
      if (i % 5 === 0) return { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: ns }, stringData: { token: `t-${i}`.repeat(8) } } as KubeObject;
      if (i % 7 === 0) return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns }, spec: { ports: [{ port: 80 + (i % 100) }], selector: { app: name } } } as KubeObject;
      return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: ns, labels: { app: 'bench', shard: String(i % 10) } }, data: { 'config.json': JSON.stringify({ i, feature: `f${i % 13}`, values: Array.from({ length: 20 }, (_, k) => k * i) }) } } as KubeObject;
    });
    const t0 = performance.now();
    await mapLimit(objs, 16, (o) => createAll(cluster.client, [o]));
    const createSeconds = (performance.now() - t0) / 1000;
    await createAll(cluster.client, [
      {
        apiVersion: 'apps/v1',
        kind: 'StatefulSet',
        metadata: { name: 'data', namespace: ns },
        spec: {
          serviceName: 'data',
          replicas: nVolumes,
          podManagementPolicy: 'Parallel',
          selector: { matchLabels: { app: 'data' } },
          template: {
            metadata: { labels: { app: 'data' } },
            spec: {
              terminationGracePeriodSeconds: 1,
              containers: [
                {
                  name: 'w',
                  image: 'debian',
                  command: ['sh', '-c', `test -f /data/blob || (head -c ${mib * 1024 * 1024} /dev/urandom > /data/blob.tmp && mv /data/blob.tmp /data/blob); exec sleep 100000`],
                  volumeMounts: [{ name: 'data', mountPath: '/data' }],
                  readinessProbe: { exec: { command: ['test', '-f', '/data/blob'] }, periodSeconds: 1 },
                },
              ],
            },
          },
          volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } }],
        },
      } as KubeObject,
    ]);
    await waitPodsReady(cluster.client, ns, 'app=data', nVolumes, 120_000);

    const discovery = await discoverResources(cluster.client);
    const types = exportableResources(discovery.resources);
    const exportMs: number[] = [];
    const kubectlMs: number[] = [];
    let exported = 0;
    for (let i = 0; i < reps; i++) {
      let t = performance.now();
      const r = await exportNamespace(cluster.client, { namespace: ns, discovery });
      exportMs.push(performance.now() - t);
      exported = r.summary.total;
      t = performance.now();
      await run('kubectl', ['--kubeconfig', kubeconfig, 'get', types.map(resourceId).join(','), '-n', ns, '-o', 'yaml'], { maxBuffer: 256 * 1024 * 1024 });
      kubectlMs.push(performance.now() - t);
    }

    const repoDir = join(cluster.dir, 'repository');
    mkdirSync(repoDir);
    const repo = await initRepository(new FileBackend(repoDir), 'bench');
    const policy: PlanPolicy = {
      name: 'bench',
      paused: false,
      schedule: { source: '@daily', normalized: '0 0 * * *', timezone: 'UTC', nominalIntervalSeconds: 86400 } as PlanPolicy['schedule'],
      retention: { hourly: 0, daily: 7, weekly: 0, monthly: 0, yearly: 0 },
      selector: { namespaces: { source: 'true', env: 'namespace' }, excludeKinds: [], defaultExclusions: true, excludeControlled: true, includeClusterResources: true },
      profile: 'local',
      actions: { snapshot: { enabled: true, keepLocal: 0 }, export: { enabled: true, volumeData: true, parallelism: 9 } },
      blueprints: [],
      warnings: [],
    };
    const backupSeconds: number[] = [];
    let last: Awaited<ReturnType<typeof backupNamespace>> | undefined;
    for (let i = 0; i < 2; i++) {
      const t = performance.now();
      last = await backupNamespace({ client: cluster.client, cluster: 'bench', namespace: ns, policy, blueprints: [], restorePointId: `rp-${i}`, discovery, repository: { repo, mover: { url: `file://${repoDir}`, password: 'bench', volume: { hostPath: repoDir } } } });
      backupSeconds.push((performance.now() - t) / 1000);
      if (last.phase !== 'Succeeded') throw new Error(`bench backup failed: ${last.errors.join('; ')}`);
    }
    return {
      objects: exported,
      volumes: nVolumes,
      volumeMiB: mib,
      createObjectsSeconds: +createSeconds.toFixed(3),
      exportMs: +median(exportMs).toFixed(1),
      kubectlGetYamlMs: +median(kubectlMs).toFixed(1),
      exportVsKubectl: +(median(kubectlMs) / median(exportMs)).toFixed(2),
      backupFirstSeconds: +backupSeconds[0]!.toFixed(2),
      backupSecondSeconds: +backupSeconds[1]!.toFixed(2),
      stepsMsSecond: last!.timings,
      bytesRead: last!.stats.bytesRead,
      bytesAddedSecond: last!.stats.bytesAdded,
      note: 'exportVsKubectl > 1 means Coffer lists+cleans+selects faster than kubectl get -o yaml of the same types',
    };
  } finally {
    await cluster.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  runKubeBench().then(
    (r) => console.log(JSON.stringify(r, null, 2)),
    (e) => {
      console.error(e);
      process.exitCode = 1;
    },
  );
}
