/**
 * Sharing the host network, PID and IPC namespaces must be disallowed.
 * Restricted fields: spec.hostNetwork, spec.hostPID, spec.hostIPC. Allowed values: undefined, false.
 * Level: baseline, since v1.0.
 */
import { v1 } from '../helpers.ts';
import { ALLOWED, type Check, type CheckPodFn } from '../types.ts';

const hostNamespaces_1_0: CheckPodFn = (_meta, spec) => {
  const shared: string[] = [];
  if (spec.hostNetwork) shared.push('hostNetwork=true');
  if (spec.hostPID) shared.push('hostPID=true');
  if (spec.hostIPC) shared.push('hostIPC=true');
  if (!shared.length) return ALLOWED;
  return { allowed: false, forbiddenReason: 'host namespaces', forbiddenDetail: shared.join(', ') };
};

export const hostNamespaces: Check = {
  id: 'hostNamespaces',
  level: 'baseline',
  versions: [{ minimumVersion: v1(0), checkPod: hostNamespaces_1_0 }],
};
