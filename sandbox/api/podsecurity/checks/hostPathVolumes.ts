/**
 * HostPath volumes must be forbidden.
 * Restricted fields: spec.volumes[*].hostPath. Allowed values: undefined/null.
 * Level: baseline, since v1.0 (restricted replaces it with restrictedVolumes).
 */
import { joinQuote, pluralize, v1 } from '../helpers.ts';
import { ALLOWED, type Check, type CheckPodFn } from '../types.ts';

const hostPathVolumes_1_0: CheckPodFn = (_meta, spec) => {
  const names = (spec.volumes ?? []).filter((v) => v.hostPath != null).map((v) => v.name);
  if (!names.length) return ALLOWED;
  return { allowed: false, forbiddenReason: 'hostPath volumes', forbiddenDetail: `${pluralize('volume', 'volumes', names.length)} ${joinQuote(names)}` };
};

export const hostPathVolumes: Check = {
  id: 'hostPathVolumes',
  level: 'baseline',
  versions: [{ minimumVersion: v1(0), checkPod: hostPathVolumes_1_0 }],
};
