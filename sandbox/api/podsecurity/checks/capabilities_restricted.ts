/**
 * Containers must drop ALL capabilities and may add back only NET_BIND_SERVICE.
 * Restricted fields: spec.{containers,initContainers,ephemeralContainers}[*].securityContext.capabilities.drop (must include "ALL")
 * and .add (undefined/empty or "NET_BIND_SERVICE"). Level: restricted, since v1.22 (overrides capabilities_baseline);
 * Windows pods exempt since v1.25.
 */
import { containersPhrase, isWindows, joinQuote, sortedSet, v1, visitContainers } from '../helpers.ts';
import { ALLOWED, type Check, type CheckPodFn } from '../types.ts';

const capabilitiesRestricted_1_22: CheckPodFn = (_meta, spec) => {
  const missingDropAll: string[] = [];
  const adding: string[] = [];
  const forbidden: string[] = [];
  visitContainers(spec, (c) => {
    const caps = c.securityContext?.capabilities;
    if (!caps) {
      missingDropAll.push(c.name);
      return;
    }
    if (!(caps.drop ?? []).includes('ALL')) missingDropAll.push(c.name);
    const extra = (caps.add ?? []).filter((x) => x !== 'NET_BIND_SERVICE');
    if (extra.length) {
      adding.push(c.name);
      forbidden.push(...extra);
    }
  });
  const details: string[] = [];
  if (missingDropAll.length) details.push(`${containersPhrase(missingDropAll)} must set securityContext.capabilities.drop=["ALL"]`);
  if (adding.length) details.push(`${containersPhrase(adding)} must not include ${joinQuote(sortedSet(forbidden))} in securityContext.capabilities.add`);
  if (!details.length) return ALLOWED;
  return { allowed: false, forbiddenReason: 'unrestricted capabilities', forbiddenDetail: details.join('; ') };
};

const capabilitiesRestricted_1_25: CheckPodFn = (meta, spec) => (isWindows(spec) ? ALLOWED : capabilitiesRestricted_1_22(meta, spec));

export const capabilities_restricted: Check = {
  id: 'capabilities_restricted',
  level: 'restricted',
  versions: [
    { minimumVersion: v1(22), checkPod: capabilitiesRestricted_1_22, overrideCheckIds: ['capabilities_baseline'] },
    { minimumVersion: v1(25), checkPod: capabilitiesRestricted_1_25, overrideCheckIds: ['capabilities_baseline'] },
  ],
};
