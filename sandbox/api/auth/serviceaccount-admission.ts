/**
 * The ServiceAccount admission plugin and the root-CA publisher of a real
 * control plane, as pure functions the API server calls with the objects it
 * looked up (plugin/pkg/admission/serviceaccount, controller/certificates/
 * rootcacertpublisher):
 * - a Pod must name an existing ServiceAccount (`default` when unset);
 * - unless `automountServiceAccountToken` is false (Pod first, then the
 *   ServiceAccount), the Pod gets a projected volume `kube-api-access-xxxxx`
 *   (a 3607 s token, `ca.crt` from ConfigMap `kube-root-ca.crt`, the
 *   namespace from the downward API) mounted read-only at
 *   /var/run/secrets/kubernetes.io/serviceaccount in every container that has
 *   nothing mounted there already;
 * - every namespace holds ConfigMap `kube-root-ca.crt` with the CA bundle.
 */
import { forbidden, type ApiError } from '../errors.ts';
import { isObject, type KObject } from '../object.ts';

type Rec = Record<string, unknown>;

export const TOKEN_MOUNT_PATH = '/var/run/secrets/kubernetes.io/serviceaccount';
export const TOKEN_VOLUME_PREFIX = 'kube-api-access-';
/** What the admission plugin asks the kubelet for; the kubelet refreshes at 80% of it. */
export const PROJECTED_TOKEN_SECONDS = 3607;
export const ROOT_CA_CONFIGMAP = 'kube-root-ca.crt';

const ROOT_CA_DESCRIPTION =
  'Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.';

/**
 * Mutates `pod` as the plugin does on create; returns the Forbidden error when
 * its ServiceAccount does not exist. `suffix` yields the 5 random characters.
 */
export function admitServiceAccount(pod: KObject, sa: KObject | undefined, suffix: () => string): ApiError | undefined {
  const spec = (isObject(pod.spec) ? pod.spec : (pod.spec = {})) as Rec;
  if (!spec.serviceAccountName) spec.serviceAccountName = 'default';
  const saName = String(spec.serviceAccountName);
  if (!sa) return forbidden('pods', '', pod.metadata.name ?? pod.metadata.generateName ?? '', `error looking up service account ${pod.metadata.namespace}/${saName}: serviceaccount "${saName}" not found`);
  const automount = typeof spec.automountServiceAccountToken === 'boolean' ? spec.automountServiceAccountToken : (sa as Rec).automountServiceAccountToken !== false;
  if (!automount) return undefined;

  const volumes = (Array.isArray(spec.volumes) ? spec.volumes : []) as Rec[];
  const existing = volumes.find((v) => isObject(v) && String(v.name ?? '').startsWith(TOKEN_VOLUME_PREFIX));
  const volumeName = existing ? String(existing.name) : `${TOKEN_VOLUME_PREFIX}${suffix()}`;
  let needed = false;
  for (const key of ['initContainers', 'containers']) {
    for (const c of (Array.isArray(spec[key]) ? spec[key] : []) as Rec[]) {
      if (!isObject(c)) continue;
      const mounts = (Array.isArray(c.volumeMounts) ? c.volumeMounts : []) as Rec[];
      if (mounts.some((m) => isObject(m) && m.mountPath === TOKEN_MOUNT_PATH)) continue;
      c.volumeMounts = [...mounts, { name: volumeName, readOnly: true, mountPath: TOKEN_MOUNT_PATH }];
      needed = true;
    }
  }
  if (needed && !existing) spec.volumes = [...volumes, tokenVolume(volumeName)];
  return undefined;
}

function tokenVolume(name: string): Rec {
  return {
    name,
    projected: {
      sources: [
        { serviceAccountToken: { expirationSeconds: PROJECTED_TOKEN_SECONDS, path: 'token' } },
        { configMap: { name: ROOT_CA_CONFIGMAP, items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
        { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
      ],
      defaultMode: 0o644,
    },
  };
}

/** The ConfigMap the root-CA publisher keeps in `namespace`, or undefined when `current` already is it. */
export function publishRootCa(namespace: string, caPem: string, current: KObject | undefined): KObject | undefined {
  if (current && isObject(current.data) && current.data['ca.crt'] === caPem && current.metadata.annotations?.['kubernetes.io/description'] === ROOT_CA_DESCRIPTION) return undefined;
  return {
    ...(current ?? {}),
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { ...(current?.metadata ?? { name: ROOT_CA_CONFIGMAP, namespace }), annotations: { ...(current?.metadata.annotations ?? {}), 'kubernetes.io/description': ROOT_CA_DESCRIPTION } },
    data: { 'ca.crt': caPem },
  } as KObject;
}

export const SA_TOKEN_SECRET_TYPE = 'kubernetes.io/service-account-token';
const SA_NAME_ANNOTATION = 'kubernetes.io/service-account.name';
const SA_UID_ANNOTATION = 'kubernetes.io/service-account.uid';

/**
 * The tokens controller's decision for a `kubernetes.io/service-account-token`
 * Secret: `delete` when its ServiceAccount is gone (or was recreated), the
 * Secret with `token`, `ca.crt`, `namespace` and the uid annotation filled,
 * or undefined when there is nothing to do.
 */
export function tokenSecretUpdate(secret: KObject, sa: KObject | undefined, caPem: string, issue: (sa: KObject) => string): KObject | 'delete' | undefined {
  const s = secret as Rec;
  const ann = secret.metadata.annotations ?? {};
  if (s.type !== SA_TOKEN_SECRET_TYPE || !ann[SA_NAME_ANNOTATION] || secret.metadata.deletionTimestamp) return undefined;
  if (!sa || (ann[SA_UID_ANNOTATION] && ann[SA_UID_ANNOTATION] !== sa.metadata.uid)) return 'delete';
  const data = (isObject(s.data) ? s.data : {}) as Record<string, string>;
  if (data.token && data['ca.crt'] && data.namespace && ann[SA_UID_ANNOTATION]) return undefined;
  const b64 = (v: string) => Buffer.from(v).toString('base64');
  return {
    ...secret,
    metadata: { ...secret.metadata, annotations: { ...ann, [SA_UID_ANNOTATION]: sa.metadata.uid! } },
    data: { ...data, token: data.token || b64(issue(sa)), 'ca.crt': b64(caPem), namespace: b64(secret.metadata.namespace!) },
  } as KObject;
}

/** Whether a Secret is a token Secret of the ServiceAccount `name` (for deleting them with it). */
export function isTokenSecretOf(secret: KObject, name: string): boolean {
  return (secret as Rec).type === SA_TOKEN_SECRET_TYPE && secret.metadata.annotations?.[SA_NAME_ANNOTATION] === name;
}
