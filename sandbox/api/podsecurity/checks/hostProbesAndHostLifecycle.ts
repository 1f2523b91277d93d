/**
 * Probes and lifecycle handlers must not target another host.
 * Restricted fields: spec.{containers,initContainers,ephemeralContainers}[*].{liveness,readiness,startup}Probe.{httpGet,tcpSocket}.host
 * and lifecycle.{postStart,preStop}.{httpGet,tcpSocket}.host. Allowed values: "", undefined.
 * Level: baseline, since v1.34.
 */
import { containersPhrase, joinQuote, pluralize, sortedSet, v1, visitContainers } from '../helpers.ts';
import { ALLOWED, type Check, type CheckPodFn, type Handler } from '../types.ts';

function hosts(h: Handler | undefined): string[] {
  if (!h) return [];
  return [h.httpGet?.host, h.tcpSocket?.host].filter((x): x is string => !!x);
}

const hostProbesAndHostLifecycle_1_34: CheckPodFn = (_meta, spec) => {
  const bad: string[] = [];
  const found: string[] = [];
  visitContainers(spec, (c) => {
    const hs = [c.livenessProbe, c.readinessProbe, c.startupProbe, c.lifecycle?.postStart, c.lifecycle?.preStop].flatMap(hosts);
    if (!hs.length) return;
    bad.push(c.name);
    found.push(...hs);
  });
  if (!bad.length) return ALLOWED;
  const names = sortedSet(bad);
  const list = sortedSet(found);
  return {
    allowed: false,
    forbiddenReason: 'probe or lifecycle host',
    forbiddenDetail: `${containersPhrase(names)} ${pluralize('uses', 'use', names.length)} ${pluralize('probe or lifecycle host', 'probe or lifecycle hosts', list.length)} ${joinQuote(list)}`,
  };
};

export const hostProbesAndHostLifecycle: Check = {
  id: 'hostProbesAndHostLifecycle',
  level: 'baseline',
  versions: [{ minimumVersion: v1(34), checkPod: hostProbesAndHostLifecycle_1_34 }],
};
