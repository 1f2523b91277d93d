/**
 * Seccomp must not be explicitly set to Unconfined.
 * Before v1.19: metadata.annotations['seccomp.security.alpha.kubernetes.io/pod'] and
 * ['container.seccomp.security.alpha.kubernetes.io/*'] — allowed 'runtime/default', 'docker/default', 'localhost/*', undefined.
 * v1.19+: spec.securityContext.seccompProfile.type and the containers' — allowed RuntimeDefault, Localhost, undefined.
 * Level: baseline (restricted replaces it with seccompProfile_restricted).
 */
import { containersPhrase, joinQuote, pluralize, sortedSet, v1, visitContainers } from '../helpers.ts';
import { ALLOWED, type Check, type CheckPodFn, type SeccompProfile } from '../types.ts';

const POD_ANNOTATION = 'seccomp.security.alpha.kubernetes.io/pod';
const CONTAINER_ANNOTATION_PREFIX = 'container.seccomp.security.alpha.kubernetes.io/';

export const validSeccomp = (p: SeccompProfile) => p.type === 'RuntimeDefault' || p.type === 'Localhost';
const validAnnotation = (v: string) => v === 'runtime/default' || v === 'docker/default' || v.startsWith('localhost/');

const seccompProfileBaseline_1_0: CheckPodFn = (meta, spec) => {
  const ann = meta.annotations ?? {};
  const forbidden: string[] = [];
  const podValue = ann[POD_ANNOTATION];
  if (podValue !== undefined && !validAnnotation(podValue)) forbidden.push(`${POD_ANNOTATION}=${JSON.stringify(podValue)}`);
  visitContainers(spec, (c) => {
    const key = CONTAINER_ANNOTATION_PREFIX + c.name;
    const val = ann[key];
    if (val !== undefined && !validAnnotation(val)) forbidden.push(`${key}=${JSON.stringify(val)}`);
  });
  const list = sortedSet(forbidden);
  if (!list.length) return ALLOWED;
  return { allowed: false, forbiddenReason: 'seccompProfile', forbiddenDetail: `forbidden ${pluralize('annotation', 'annotations', list.length)} ${list.join(', ')}` };
};

const seccompProfileBaseline_1_19: CheckPodFn = (_meta, spec) => {
  const setters: string[] = [];
  const badValues: string[] = [];
  const podProfile = spec.securityContext?.seccompProfile;
  if (podProfile && !validSeccomp(podProfile)) {
    setters.push('pod');
    badValues.push(podProfile.type ?? '');
  }
  const bad: string[] = [];
  visitContainers(spec, (c) => {
    const p = c.securityContext?.seccompProfile;
    if (p && !validSeccomp(p)) {
      bad.push(c.name);
      badValues.push(p.type ?? '');
    }
  });
  if (bad.length) setters.push(containersPhrase(bad));
  if (!setters.length) return ALLOWED;
  return {
    allowed: false,
    forbiddenReason: 'seccompProfile',
    forbiddenDetail: `${setters.join(' and ')} must not set securityContext.seccompProfile.type to ${joinQuote(sortedSet(badValues))}`,
  };
};

export const seccompProfile_baseline: Check = {
  id: 'seccompProfile_baseline',
  level: 'baseline',
  versions: [
    { minimumVersion: v1(0), checkPod: seccompProfileBaseline_1_0 },
    { minimumVersion: v1(19), checkPod: seccompProfileBaseline_1_19 },
  ],
};
