/**
 * A container's environment from its spec: `env` (value, valueFrom
 * configMapKeyRef / secretKeyRef / fieldRef / resourceFieldRef), `envFrom`,
 * and `$(VAR)` expansion, resolved the way the kubelet does.
 */
import type { KubeObject } from '../controllers/client.ts';

export interface EnvLookups {
  configMap(namespace: string, name: string): Promise<KubeObject | null>;
  secret(namespace: string, name: string): Promise<KubeObject | null>;
}

/** A missing non-optional reference: the kubelet reports CreateContainerConfigError and retries. */
export class ContainerConfigError extends Error {
  readonly reason = 'CreateContainerConfigError';
}

/** Expands `$(NAME)` from already-defined variables; `$$(NAME)` escapes, unknown names stay literal. */
export function expandVars(value: string, vars: Record<string, string>): string {
  return value.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (m, name?: string) => {
    if (m === '$$') return '$';
    return name !== undefined && name in vars ? vars[name]! : m;
  });
}

/** fieldRef paths the downward API supports. */
export function fieldValue(pod: KubeObject, fieldPath: string): string {
  const md = pod.metadata;
  const label = /^metadata\.labels\['(.+)'\]$/.exec(fieldPath);
  if (label) return md.labels?.[label[1]!] ?? '';
  const ann = /^metadata\.annotations\['(.+)'\]$/.exec(fieldPath);
  if (ann) return md.annotations?.[ann[1]!] ?? '';
  switch (fieldPath) {
    case 'metadata.name':
      return md.name ?? '';
    case 'metadata.namespace':
      return md.namespace ?? '';
    case 'metadata.uid':
      return md.uid ?? '';
    case 'spec.nodeName':
      return pod.spec?.nodeName ?? '';
    case 'spec.serviceAccountName':
      return pod.spec?.serviceAccountName ?? 'default';
    case 'status.podIP':
      return pod.status?.podIP ?? '';
    case 'status.podIPs':
      return pod.status?.podIP ?? '';
    case 'status.hostIP':
    case 'status.hostIPs':
      return pod.status?.hostIP ?? '127.0.0.1';
    default:
      return '';
  }
}

function decode(obj: KubeObject, key: string, isSecret: boolean): string | undefined {
  if (isSecret) {
    if (obj.data?.[key] !== undefined) return Buffer.from(String(obj.data[key]), 'base64').toString('utf8');
    return obj.stringData?.[key];
  }
  if (obj.data?.[key] !== undefined) return String(obj.data[key]);
  if (obj.binaryData?.[key] !== undefined) return Buffer.from(String(obj.binaryData[key]), 'base64').toString('utf8');
  return undefined;
}

/** Resolves the container's env in spec order (later entries see earlier ones); `base` are image/runtime defaults. */
export async function resolveEnv(pod: KubeObject, container: any, base: Record<string, string>, lookups: EnvLookups): Promise<Record<string, string>> {
  const ns = pod.metadata.namespace ?? 'default';
  const env: Record<string, string> = { ...base };
  for (const from of container.envFrom ?? []) {
    const ref = from.configMapRef ?? from.secretRef;
    const isSecret = !!from.secretRef;
    const obj = isSecret ? await lookups.secret(ns, ref.name) : await lookups.configMap(ns, ref.name);
    if (!obj) {
      if (ref.optional) continue;
      throw new ContainerConfigError(`${isSecret ? 'secret' : 'configmap'} "${ref.name}" not found`);
    }
    const keys = new Set([...Object.keys(obj.data ?? {}), ...Object.keys(obj.binaryData ?? {}), ...(isSecret ? Object.keys(obj.stringData ?? {}) : [])]);
    for (const k of keys) env[(from.prefix ?? '') + k] = decode(obj, k, isSecret) ?? '';
  }
  for (const e of container.env ?? []) {
    if (e.value !== undefined) {
      env[e.name] = expandVars(String(e.value), env);
      continue;
    }
    const vf = e.valueFrom;
    if (!vf) {
      env[e.name] = '';
      continue;
    }
    if (vf.fieldRef) env[e.name] = fieldValue(pod, vf.fieldRef.fieldPath);
    else if (vf.resourceFieldRef) env[e.name] = resourceValue(container, vf.resourceFieldRef);
    else {
      const ref = vf.configMapKeyRef ?? vf.secretKeyRef;
      const isSecret = !!vf.secretKeyRef;
      const obj = isSecret ? await lookups.secret(ns, ref.name) : await lookups.configMap(ns, ref.name);
      const value = obj ? decode(obj, ref.key, isSecret) : undefined;
      if (value === undefined) {
        if (ref.optional) continue;
        throw new ContainerConfigError(
          obj ? `couldn't find key ${ref.key} in ${isSecret ? 'Secret' : 'ConfigMap'} ${ns}/${ref.name}` : `${isSecret ? 'secret' : 'configmap'} "${ref.name}" not found`,
        );
      }
      env[e.name] = value;
    }
  }
  return env;
}

function resourceValue(container: any, ref: { resource: string; divisor?: string }): string {
  const [kind, res] = ref.resource.split('.') as [string, string];
  const v = container.resources?.[kind]?.[res];
  if (v !== undefined) return String(v);
  // Unlimited: the node's allocatable, as the kubelet reports.
  return res === 'cpu' ? '2' : String(8 * 1024 * 1024 * 1024);
}
