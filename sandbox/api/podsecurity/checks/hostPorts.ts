/**
 * HostPorts must be forbidden.
 * Restricted fields: spec.{containers,initContainers,ephemeralContainers}[*].ports[*].hostPort.
 * Allowed values: undefined, 0. Level: baseline, since v1.0.
 */
import { containersPhrase, pluralize, sortedSet, v1, visitContainers } from '../helpers.ts';
import { ALLOWED, type Check, type CheckPodFn } from '../types.ts';

const hostPorts_1_0: CheckPodFn = (_meta, spec) => {
  const bad: string[] = [];
  const ports: string[] = [];
  visitContainers(spec, (c) => {
    const used = (c.ports ?? []).filter((p) => (p.hostPort ?? 0) !== 0).map((p) => String(p.hostPort));
    if (!used.length) return;
    bad.push(c.name);
    ports.push(...used);
  });
  if (!bad.length) return ALLOWED;
  const list = sortedSet(ports);
  return {
    allowed: false,
    forbiddenReason: 'hostPort',
    forbiddenDetail: `${containersPhrase(bad)} ${pluralize('uses', 'use', bad.length)} ${pluralize('hostPort', 'hostPorts', list.length)} ${list.join(', ')}`,
  };
};

export const hostPorts: Check = {
  id: 'hostPorts',
  level: 'baseline',
  versions: [{ minimumVersion: v1(0), checkPod: hostPorts_1_0 }],
};
