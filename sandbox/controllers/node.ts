/**
 * The sandbox's single Node object: registered at start with the host's
 * capacity and a Ready condition, as a kubelet registers itself.
 */
import os from 'node:os';
import { isConflict, type ApiClient } from './client.ts';

export function nodeLabels(name: string): Record<string, string> {
  const arch = process.arch === 'x64' ? 'amd64' : process.arch;
  return {
    'kubernetes.io/hostname': name,
    'kubernetes.io/os': 'linux',
    'kubernetes.io/arch': arch,
    'beta.kubernetes.io/os': 'linux',
    'beta.kubernetes.io/arch': arch,
    'node-role.kubernetes.io/control-plane': '',
  };
}

export async function registerNode(api: ApiClient, name: string): Promise<void> {
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const memKi = `${Math.floor(os.totalmem() / 1024)}Ki`;
  const capacity = { cpu: String(os.cpus().length), memory: memKi, pods: '110', 'ephemeral-storage': '100Gi' };
  const cond = (type: string, status: string, reason: string, message: string) => ({ type, status, reason, message, lastHeartbeatTime: now, lastTransitionTime: now });
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
      architecture: nodeLabels(name)['kubernetes.io/arch'],
    },
  };
  try {
    await api.post('/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name, labels: nodeLabels(name) }, spec: { podCIDR: '10.244.0.0/16', podCIDRs: ['10.244.0.0/16'] } });
  } catch (e) {
    if (!isConflict(e)) throw e;
  }
  await api.patch(`/api/v1/nodes/${name}/status`, { status });
}
