/**
 * Kubernetes access for the reconciler: a dynamic JSON client over any kubeconfig (real cluster or sandbox) and
 * discovery of served resource types.
 */
export { KubeClient, KubeApiError, KubeConfigError, loadKubeConfig, collectionPath, isNotFound, isConflict, type KubeConfigSource } from './client.ts';
export { discoverResources, parseResourceList, ResourceMap, WELL_KNOWN, groupOf, type DiscoveryResult } from './discovery.ts';
export { type KubeObject, type ApiResource, type ObjectMeta, type OwnerReference, resourceId } from './types.ts';
export { waitFor, sleep, mapLimit, type WaitOptions, TimeoutError } from './wait.ts';
