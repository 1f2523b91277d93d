/**
 * Adding NET_RAW or capabilities beyond the container runtime's default set must be disallowed.
 * Restricted fields: spec.{containers,initContainers,ephemeralContainers}[*].securityContext.capabilities.add.
 * Allowed values: undefined/empty, or values from the default set below. Level: baseline, since v1.0.
 * The restricted level replaces this check with capabilities_restricted.
 */
import { containersPhrase, joinQuote, sortedSet, v1, visitContainers } from '../helpers.ts';
import { ALLOWED, type Check, type CheckPodFn } from '../types.ts';

/** The capabilities containerd and CRI-O grant by default (without NET_RAW). */
export const DEFAULT_CAPABILITIES = new Set(['AUDIT_WRITE', 'CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL', 'MKNOD', 'NET_BIND_SERVICE', 'SETFCAP', 'SETGID', 'SETPCAP', 'SETUID', 'SYS_CHROOT']);

const capabilitiesBaseline_1_0: CheckPodFn = (_meta, spec) => {
  const bad: string[] = [];
  const added: string[] = [];
  visitContainers(spec, (c) => {
    const extra = (c.securityContext?.capabilities?.add ?? []).filter((cap) => !DEFAULT_CAPABILITIES.has(cap));
    if (!extra.length) return;
    bad.push(c.name);
    added.push(...extra);
  });
  if (!bad.length) return ALLOWED;
  return {
    allowed: false,
    forbiddenReason: 'non-default capabilities',
    forbiddenDetail: `${containersPhrase(bad)} must not include ${joinQuote(sortedSet(added))} in securityContext.capabilities.add`,
  };
};

export const capabilities_baseline: Check = {
  id: 'capabilities_baseline',
  level: 'baseline',
  versions: [{ minimumVersion: v1(0), checkPod: capabilitiesBaseline_1_0 }],
};
