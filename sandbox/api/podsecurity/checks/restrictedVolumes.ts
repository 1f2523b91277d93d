/**
 * Restricted pods may only use volume types that cannot reach the node or outside storage directly:
 * configMap, csi, downwardAPI, emptyDir, ephemeral, image, persistentVolumeClaim, projected, secret.
 * Restricted fields: spec.volumes[*] of every other type (hostPath, nfs, gitRepo, …).
 * Level: restricted, since v1.0 (overrides hostPathVolumes).
 */
import { joinQuote, pluralize, sortedSet, v1 } from '../helpers.ts';
import { ALLOWED, type Check, type CheckPodFn } from '../types.ts';

const ALLOWED_TYPES = ['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'image', 'persistentVolumeClaim', 'projected', 'secret'];
const KNOWN_RESTRICTED = [
  'hostPath', 'gcePersistentDisk', 'awsElasticBlockStore', 'gitRepo', 'nfs', 'iscsi', 'glusterfs', 'rbd', 'flexVolume', 'cinder', 'cephfs',
  'flocker', 'fc', 'azureFile', 'vsphereVolume', 'quobyte', 'azureDisk', 'photonPersistentDisk', 'portworxVolume', 'scaleIO', 'storageos',
];

const restrictedVolumes_1_0: CheckPodFn = (_meta, spec) => {
  const bad: string[] = [];
  const types: string[] = [];
  for (const vol of spec.volumes ?? []) {
    if (ALLOWED_TYPES.some((t) => vol[t] != null)) continue;
    bad.push(vol.name);
    types.push(KNOWN_RESTRICTED.find((t) => vol[t] != null) ?? 'unknown');
  }
  if (!bad.length) return ALLOWED;
  const list = sortedSet(types);
  return {
    allowed: false,
    forbiddenReason: 'restricted volume types',
    forbiddenDetail: `${pluralize('volume', 'volumes', bad.length)} ${joinQuote(bad)} ${pluralize('uses', 'use', bad.length)} ${pluralize('restricted volume type', 'restricted volume types', list.length)} ${joinQuote(list)}`,
  };
};

export const restrictedVolumes: Check = {
  id: 'restrictedVolumes',
  level: 'restricted',
  versions: [{ minimumVersion: v1(0), checkPod: restrictedVolumes_1_0, overrideCheckIds: ['hostPathVolumes'] }],
};
