/**
 * The sandbox's Nodes. `startSandbox({ nodes: N })` registers N Node objects,
 * named as kind names its nodes (`sandbox` — the control-plane node, kept
 * from the one-node days — then `sandbox-worker`, `sandbox-worker2`, …), each
 * with the well-known labels, a zone (zone-a, zone-b, zone-c in turn), the
 * host's capacity and a Ready condition, as a kubelet registers itself. One
 * runtime process serves all of them; pods run "on" the node the scheduler
 * binds them to. The node controller half keeps what the real node lifecycle
 * controller and kubelet keep: the `node.kubernetes.io/unschedulable` taint in
 * step with `spec.unschedulable` (kubectl cordon), `node.kubernetes.io/not-ready`
 * on nodes that are not Ready, a Lease per node in
 * kube-node-lease renewed every 10 s (the status heartbeat every 5 minutes), and no pods left bound to a node that
 * is gone (the pod GC's orphan rule).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ApiError, isConflict, type ApiClient, type KubeObject } from './client.ts';
import { type Informer, WorkQueue } from './informer.ts';
import { UNSCHEDULABLE_TAINT } from './scheduler/nodeunschedulable.ts';

export const CONTROL_PLANE_NODE = 'sandbox';
const OUR_NODE = /^sandbox(-worker\d*)?$/;
const MAX_NODES = 64;
const NOT_READY_TAINT = { key: 'node.kubernetes.io/not-ready', effect: 'NoSchedule' };

/** kind's naming: control plane, then worker, worker2, worker3, … */
export function sandboxNodeNames(count: number): string[] {
  return Array.from({ length: count }, (_, i) => (i === 0 ? CONTROL_PLANE_NODE : i === 1 ? 'sandbox-worker' : `sandbox-worker${i}`));
}

export function zoneOf(index: number): string {
  return `zone-${'abc'[index % 3]}`;
}

export function nodeLabels(name: string, index = 0): Record<string, string> {
  const arch = process.arch === 'x64' ? 'amd64' : process.arch;
  return {
    'kubernetes.io/hostname': name,
    'kubernetes.io/os': 'linux',
    'kubernetes.io/arch': arch,
    'beta.kubernetes.io/os': 'linux',
    'beta.kubernetes.io/arch': arch,
    'topology.kubernetes.io/region': 'sandbox',
    'topology.kubernetes.io/zone': zoneOf(index),
    ...(index === 0 ? { 'node-role.kubernetes.io/control-plane': '' } : {}),
  };
}

/** Thrown for a bad `--nodes` value; `code` is stable for the CLI. */
export class NodeCountError extends Error {
  readonly code = 'E_SANDBOX_NODES';
}

export function validateNodeCount(n: unknown, source = '--nodes'): number {
  const v = typeof n === 'string' && /^\d+$/.test(n.trim()) ? Number(n) : n;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > MAX_NODES) throw new NodeCountError(`${source}: "${String(n)}" is not a node count (an integer from 1 to ${MAX_NODES})`);
  return v;
}

/** The node count for a start over DIR: the one asked for (remembered in DIR/nodes), else the remembered one, else 1. */
export function resolveNodeCount(dataDir: string, requested: number | undefined): number {
  const file = path.join(dataDir, 'nodes');
  if (requested !== undefined) {
    const n = validateNodeCount(requested, 'nodes');
    writeFileSync(file, `${n}\n`);
    return n;
  }
  if (!existsSync(file)) return 1;
  return validateNodeCount(readFileSync(file, 'utf8').trim(), file);
}

function nowSeconds(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

async function registerNode(api: ApiClient, name: string, index: number): Promise<void> {
  const now = nowSeconds();
  const memKi = `${Math.floor(os.totalmem() / 1024)}Ki`;
  const capacity = { cpu: String(os.cpus().length), memory: memKi, pods: '110', 'ephemeral-storage': '100Gi' };
  const cond = (type: string, status: string, reason: string, message: string) => ({ type, status, reason, message, lastHeartbeatTime: now, lastTransitionTime: now });
  const labels = nodeLabels(name, index);
  const status = {
    capacity,
    allocatable: capacity,
    conditions: [
      cond('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'),
      cond('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
      cond('PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
      cond('Ready', 'True', 'KubeletReady', 'kubelet is posting ready status'),
    ],
    addresses: [
      { type: 'InternalIP', address: '127.0.0.1' },
      { type: 'Hostname', address: name },
    ],
    daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
    nodeInfo: {
      machineID: '',
      systemUUID: '',
      bootID: '',
      kernelVersion: os.release(),
      osImage: 'Coffer sandbox (bubblewrap)',
      containerRuntimeVersion: 'bwrap://0.8.0',
      kubeletVersion: 'v1.32.0-sandbox',
      kubeProxyVersion: 'v1.32.0-sandbox',
      operatingSystem: 'linux',
      architecture: labels['kubernetes.io/arch'],
    },
  };
  const cidr = `10.244.${index}.0/24`;
  try {
    await api.post('/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name, labels }, spec: { podCIDR: cidr, podCIDRs: [cidr] } });
  } catch (e) {
    if (!isConflict(e)) throw e;
    // A restart keeps what users set (cordon, taints, their own labels) and refreshes ours.
    await api.patch(`/api/v1/nodes/${name}`, { metadata: { labels } });
  }
  await api.patch(`/api/v1/nodes/${name}/status`, { status });
}

/** Registers the nodes of this start and removes sandbox nodes left from a start with more. */
export async function registerNodes(api: ApiClient, names: string[]): Promise<void> {
  for (const [i, name] of names.entries()) await registerNode(api, name, i);
  const existing = (await api.get<{ items: KubeObject[] }>('/api/v1/nodes')).items;
  for (const n of existing) if (OUR_NODE.test(n.metadata.name!) && !names.includes(n.metadata.name!)) await api.delete(`/api/v1/nodes/${n.metadata.name}`);
}

function microTime(): string {
  return new Date().toISOString().replace(/Z$/, '000Z');
}

export class NodeController {
  private readonly queue: WorkQueue;
  private readonly heartbeat: NodeJS.Timeout;

  constructor(
    private readonly api: ApiClient,
    private readonly nodes: Informer,
    private readonly pods: Informer,
    private readonly names: string[],
    log: (line: string) => void,
  ) {
    this.queue = new WorkQueue((k) => this.sync(k), log);
    nodes.on((type, n) => {
      if (type === 'DELETED') this.collectOrphans(n.metadata.name!);
      else this.queue.add(n.metadata.name!);
    });
    let ticks = 0;
    this.heartbeat = setInterval(() => {
      void this.renewLeases().catch((e) => log(`node lease: ${(e as Error).message}`));
      // The status heartbeat is rarer, as the kubelet's nodeStatusReportFrequency makes it when nothing changed.
      if (++ticks % 30 === 0) void this.reportStatus().catch((e) => log(`node status: ${(e as Error).message}`));
    }, 10_000);
    this.heartbeat.unref();
  }

  /** After the informers synced: first leases, and pods orphaned while the sandbox was down. */
  async start(): Promise<void> {
    await this.renewLeases();
    const live = new Set(this.nodes.list().map((n) => n.metadata.name!));
    for (const p of this.pods.list((p) => !!p.spec?.nodeName && !live.has(p.spec.nodeName))) this.collectOrphans(p.spec.nodeName);
  }

  stop(): void {
    clearInterval(this.heartbeat);
    this.queue.stop();
  }

  /**
   * TaintNodesByCondition: `spec.unschedulable` ⇔ the unschedulable NoSchedule taint, and a node whose Ready
   * condition is not True (one no kubelet serves, e.g. created by hand) ⇔ the not-ready NoSchedule taint.
   */
  private async sync(name: string): Promise<void> {
    const node = this.nodes.get(undefined, name);
    if (!node) return;
    const taints: any[] = node.spec?.taints ?? [];
    const ready = (node.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True');
    let next = taints;
    for (const [taint, want] of [[UNSCHEDULABLE_TAINT, !!node.spec?.unschedulable], [NOT_READY_TAINT, !ready]] as const) {
      const has = next.some((t) => t.key === taint.key && t.effect === taint.effect);
      if (want && !has) next = [...next, { ...taint, timeAdded: nowSeconds() }];
      if (!want && has) next = next.filter((t) => !(t.key === taint.key && t.effect === taint.effect));
    }
    if (next === taints) return;
    try {
      await this.api.patch(`/api/v1/nodes/${name}`, { metadata: { resourceVersion: node.metadata.resourceVersion }, spec: { taints: next.length ? next : null } });
    } catch (e) {
      if (!isConflict(e)) throw e; // a newer version is on its way through the informer
    }
  }

  private async renewLeases(): Promise<void> {
    for (const name of this.names) {
      const path = `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${name}`;
      const spec = { holderIdentity: name, leaseDurationSeconds: 40, renewTime: microTime() };
      try {
        await this.api.patch(path, { spec });
      } catch (e) {
        if (!(e instanceof ApiError && e.statusCode === 404)) throw e;
        const node = this.nodes.get(undefined, name);
        const owner = node ? [{ apiVersion: 'v1', kind: 'Node', name, uid: node.metadata.uid! }] : undefined;
        await this.api.post('/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace: 'kube-node-lease', ownerReferences: owner }, spec });
      }
    }
  }

  /** Fresh `lastHeartbeatTime` on every condition of the nodes this process serves. */
  private async reportStatus(): Promise<void> {
    const now = nowSeconds();
    for (const name of this.names) {
      const node = this.nodes.get(undefined, name);
      if (!node?.status?.conditions) continue;
      const conditions = node.status.conditions.map((c: any) => ({ ...c, lastHeartbeatTime: now }));
      await this.api.patch(`/api/v1/nodes/${name}/status`, { status: { conditions } });
    }
  }

  /** Pods bound to a node that no longer exists can never run: delete them so their controllers replace them. */
  private collectOrphans(nodeName: string): void {
    for (const p of this.pods.list((p) => p.spec?.nodeName === nodeName)) {
      void this.api.delete(`/api/v1/namespaces/${p.metadata.namespace}/pods/${encodeURIComponent(p.metadata.name!)}`, { gracePeriodSeconds: 0 }).catch(() => {});
    }
  }
}
