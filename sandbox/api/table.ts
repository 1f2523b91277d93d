/**
 * Server-side printing: the `meta.k8s.io/v1 Table` that `kubectl get` asks for
 * (Accept: application/json;as=Table), with the columns a real server prints
 * for the common kinds and the CRD's additionalPrinterColumns for custom
 * resources.
 */
import { JSONPath } from './jsonpath.ts';
import { isObject, type KObject } from './object.ts';
import type { ResourceType } from './resources.ts';

type Rec = Record<string, unknown>;
export interface Column {
  name: string;
  type: string;
  format: string;
  description: string;
  priority: number;
  cell: (o: KObject, now: number) => unknown;
}

/** apimachinery's duration.HumanDuration, so AGE reads like a real cluster's. */
export function humanDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 0) return '<invalid>';
  if (s < 60 * 2) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
  if (m < 60 * 3) return `${m}m`;
  const h = Math.floor(s / 3600);
  if (h < 8) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
  if (h < 48) return `${h}h`;
  if (h < 24 * 8) return h % 24 === 0 ? `${Math.floor(h / 24)}d` : `${Math.floor(h / 24)}d${h % 24}h`;
  if (h < 24 * 365 * 2) return `${Math.floor(h / 24)}d`;
  const y = Math.floor(h / 24 / 365);
  if (y < 8) return `${y}y${Math.floor(h / 24) % 365}d`;
  return `${y}y`;
}

function age(o: KObject, now: number): string {
  const ts = o.metadata.creationTimestamp;
  return ts ? humanDuration(now - Date.parse(ts)) : '<unknown>';
}

function rec(v: unknown): Rec {
  return isObject(v) ? v : {};
}

const col = (name: string, cell: Column['cell'], opts: Partial<Column> = {}): Column => ({ name, type: 'string', format: '', description: '', priority: 0, cell, ...opts });
const NAME = col('Name', (o) => o.metadata.name, { format: 'name', description: 'Name must be unique within a namespace.' });
const AGE = col('Age', age, { description: 'CreationTimestamp is a timestamp representing the server time when this object was created.' });
const num = (v: unknown) => (typeof v === 'number' ? v : 0);

function podStatus(o: KObject): { ready: string; status: string; restarts: number } {
  const spec = rec(o.spec);
  const st = rec(o.status);
  const cs = (st.containerStatuses as Rec[]) ?? [];
  const total = ((spec.containers as unknown[]) ?? []).length;
  const ready = cs.filter((c) => c.ready === true).length;
  let reason = String(st.reason ?? st.phase ?? 'Pending');
  for (const c of cs) {
    const state = rec(c.state);
    if (isObject(state.waiting) && state.waiting.reason) reason = String(state.waiting.reason);
    else if (isObject(state.terminated)) reason = String(state.terminated.reason ?? (state.terminated.signal ? `Signal:${state.terminated.signal}` : `ExitCode:${state.terminated.exitCode}`));
  }
  if (o.metadata.deletionTimestamp) reason = 'Terminating';
  return { ready: `${ready}/${total}`, status: reason, restarts: cs.reduce((a, c) => a + num(c.restartCount), 0) };
}

function servicePorts(o: KObject): string {
  const ports = (rec(o.spec).ports as Rec[]) ?? [];
  if (!ports.length) return '<none>';
  return ports.map((p) => `${p.port}${p.nodePort ? `:${p.nodePort}` : ''}/${p.protocol ?? 'TCP'}`).join(',');
}

const BUILTIN_COLUMNS: Record<string, Column[]> = {
  namespaces: [NAME, col('Status', (o) => rec(o.status).phase ?? ''), AGE],
  configmaps: [NAME, col('Data', (o) => Object.keys(rec(o.data)).length + Object.keys(rec(o.binaryData)).length, { type: 'integer' }), AGE],
  secrets: [NAME, col('Type', (o) => o.type ?? 'Opaque'), col('Data', (o) => Object.keys(rec(o.data)).length, { type: 'integer' }), AGE],
  serviceaccounts: [NAME, col('Secrets', (o) => ((o.secrets as unknown[]) ?? []).length, { type: 'integer' }), AGE],
  services: [
    NAME,
    col('Type', (o) => rec(o.spec).type ?? 'ClusterIP'),
    col('Cluster-IP', (o) => rec(o.spec).clusterIP ?? '<none>'),
    col('External-IP', (o) => (((rec(o.spec).externalIPs as string[]) ?? []).join(',') || (rec(o.spec).type === 'LoadBalancer' ? '<pending>' : '<none>'))),
    col('Port(s)', servicePorts),
    AGE,
    col('Selector', (o) => Object.entries(rec(rec(o.spec).selector)).map(([k, v]) => `${k}=${v}`).join(',') || '<none>', { priority: 1 }),
  ],
  pods: [
    NAME,
    col('Ready', (o) => podStatus(o).ready),
    col('Status', (o) => podStatus(o).status),
    col('Restarts', (o) => String(podStatus(o).restarts)),
    AGE,
    col('IP', (o) => rec(o.status).podIP ?? '<none>', { priority: 1 }),
    col('Node', (o) => rec(o.spec).nodeName ?? '<none>', { priority: 1 }),
    col('Nominated Node', (o) => rec(o.status).nominatedNodeName ?? '<none>', { priority: 1 }),
    col('Readiness Gates', (o) => {
      const gates = (rec(o.spec).readinessGates as Rec[]) ?? [];
      if (!gates.length) return '<none>';
      const conds = (rec(o.status).conditions as Rec[]) ?? [];
      return `${gates.filter((g) => conds.some((c) => c.type === g.conditionType && c.status === 'True')).length}/${gates.length}`;
    }, { priority: 1 }),
  ],
  persistentvolumeclaims: [
    NAME,
    col('Status', (o) => rec(o.status).phase ?? ''),
    col('Volume', (o) => rec(o.spec).volumeName ?? ''),
    col('Capacity', (o) => rec(rec(o.status).capacity).storage ?? ''),
    col('Access Modes', (o) => accessModes(rec(o.status).accessModes)),
    col('StorageClass', (o) => rec(o.spec).storageClassName ?? '<unset>'),
    col('VolumeAttributesClass', (o) => rec(o.spec).volumeAttributesClassName ?? '<unset>'),
    AGE,
    col('VolumeMode', (o) => rec(o.spec).volumeMode ?? 'Filesystem', { priority: 1 }),
  ],
  persistentvolumes: [
    NAME,
    col('Capacity', (o) => rec(rec(o.spec).capacity).storage ?? ''),
    col('Access Modes', (o) => accessModes(rec(o.spec).accessModes)),
    col('Reclaim Policy', (o) => rec(o.spec).persistentVolumeReclaimPolicy ?? ''),
    col('Status', (o) => rec(o.status).phase ?? ''),
    col('Claim', (o) => {
      const c = rec(rec(o.spec).claimRef);
      return c.name ? `${c.namespace}/${c.name}` : '';
    }),
    col('StorageClass', (o) => rec(o.spec).storageClassName ?? ''),
    col('VolumeAttributesClass', (o) => rec(o.spec).volumeAttributesClassName ?? '<unset>'),
    col('Reason', (o) => rec(o.status).reason ?? ''),
    AGE,
  ],
  events: [
    col('Last Seen', (o, now) => humanDuration(now - Date.parse(String(o.lastTimestamp ?? o.eventTime ?? o.metadata.creationTimestamp)))),
    col('Type', (o) => o.type ?? ''),
    col('Reason', (o) => o.reason ?? ''),
    col('Object', (o) => `${String(rec(o.involvedObject).kind ?? '').toLowerCase()}/${rec(o.involvedObject).name ?? ''}`),
    col('Message', (o) => o.message ?? ''),
  ],
  nodes: [NAME, col('Status', (o) => (((rec(o.status).conditions as Rec[]) ?? []).find((c) => c.type === 'Ready')?.status === 'True' ? 'Ready' : 'NotReady') + (rec(o.spec).unschedulable ? ',SchedulingDisabled' : '')), col('Roles', (o) => nodeRoles(o)), AGE, col('Version', (o) => rec(rec(o.status).nodeInfo).kubeletVersion ?? '')],
  'deployments.apps': [
    NAME,
    col('Ready', (o) => `${num(rec(o.status).readyReplicas)}/${num(rec(o.spec).replicas)}`),
    col('Up-to-date', (o) => num(rec(o.status).updatedReplicas), { type: 'integer' }),
    col('Available', (o) => num(rec(o.status).availableReplicas), { type: 'integer' }),
    AGE,
  ],
  'statefulsets.apps': [NAME, col('Ready', (o) => `${num(rec(o.status).readyReplicas)}/${num(rec(o.spec).replicas)}`), AGE],
  'replicasets.apps': [
    NAME,
    col('Desired', (o) => num(rec(o.spec).replicas), { type: 'integer' }),
    col('Current', (o) => num(rec(o.status).replicas), { type: 'integer' }),
    col('Ready', (o) => num(rec(o.status).readyReplicas), { type: 'integer' }),
    AGE,
  ],
  'daemonsets.apps': [
    NAME,
    col('Desired', (o) => num(rec(o.status).desiredNumberScheduled), { type: 'integer' }),
    col('Current', (o) => num(rec(o.status).currentNumberScheduled), { type: 'integer' }),
    col('Ready', (o) => num(rec(o.status).numberReady), { type: 'integer' }),
    col('Up-to-date', (o) => num(rec(o.status).updatedNumberScheduled), { type: 'integer' }),
    col('Available', (o) => num(rec(o.status).numberAvailable), { type: 'integer' }),
    col('Node Selector', (o) => Object.entries(rec(rec(rec(rec(o.spec).template).spec).nodeSelector)).map(([k, v]) => `${k}=${v}`).join(',') || '<none>'),
    AGE,
  ],
  'jobs.batch': [
    NAME,
    col('Status', (o) => {
      const conds = (rec(o.status).conditions as Rec[]) ?? [];
      const t = (x: string) => conds.some((c) => c.type === x && c.status === 'True');
      if (t('Complete')) return 'Complete';
      if (t('Failed')) return 'Failed';
      if (o.metadata.deletionTimestamp) return 'Terminating';
      if (t('Suspended')) return 'Suspended';
      return 'Running';
    }),
    col('Completions', (o) => `${num(rec(o.status).succeeded)}/${rec(o.spec).completions ?? 1}`),
    col('Duration', (o, now) => {
      const st = rec(o.status);
      if (!st.startTime) return '';
      const end = st.completionTime ? Date.parse(String(st.completionTime)) : now;
      return humanDuration(end - Date.parse(String(st.startTime)));
    }),
    AGE,
  ],
  'cronjobs.batch': [
    NAME,
    col('Schedule', (o) => rec(o.spec).schedule ?? ''),
    col('Timezone', (o) => rec(o.spec).timeZone ?? '<none>'),
    col('Suspend', (o) => (rec(o.spec).suspend ? 'True' : 'False')),
    col('Active', (o) => ((rec(o.status).active as unknown[]) ?? []).length, { type: 'integer' }),
    col('Last Schedule', (o, now) => (rec(o.status).lastScheduleTime ? humanDuration(now - Date.parse(String(rec(o.status).lastScheduleTime))) : '<none>')),
    AGE,
  ],
  'storageclasses.storage.k8s.io': [
    col('Name', (o) => (o.metadata.annotations?.['storageclass.kubernetes.io/is-default-class'] === 'true' ? `${o.metadata.name} (default)` : o.metadata.name), { format: 'name' }),
    col('Provisioner', (o) => o.provisioner ?? ''),
    col('ReclaimPolicy', (o) => o.reclaimPolicy ?? 'Delete'),
    col('VolumeBindingMode', (o) => o.volumeBindingMode ?? 'Immediate'),
    col('AllowVolumeExpansion', (o) => String(o.allowVolumeExpansion ?? false)),
    AGE,
  ],
  'poddisruptionbudgets.policy': [
    NAME,
    col('Min Available', (o) => String(rec(o.spec).minAvailable ?? 'N/A')),
    col('Max Unavailable', (o) => String(rec(o.spec).maxUnavailable ?? 'N/A')),
    col('Allowed Disruptions', (o) => Number(rec(o.status).disruptionsAllowed ?? 0), { type: 'integer' }),
    AGE,
  ],
  'leases.coordination.k8s.io': [NAME, col('Holder', (o) => rec(o.spec).holderIdentity ?? ''), AGE],
  'customresourcedefinitions.apiextensions.k8s.io': [NAME, col('Created At', (o) => o.metadata.creationTimestamp ?? '', { type: 'date' })],
  'ingresses.networking.k8s.io': [
    NAME,
    col('Class', (o) => rec(o.spec).ingressClassName ?? '<none>'),
    col('Hosts', (o) => ((rec(o.spec).rules as Rec[]) ?? []).map((r) => r.host ?? '*').join(',') || '*'),
    col('Address', () => ''),
    col('Ports', (o) => (((rec(o.spec).tls as unknown[]) ?? []).length ? '80, 443' : '80')),
    AGE,
  ],
  'rolebindings.rbac.authorization.k8s.io': [NAME, col('Role', (o) => `${rec(o.roleRef).kind}/${rec(o.roleRef).name}`), AGE],
  'clusterrolebindings.rbac.authorization.k8s.io': [NAME, col('Role', (o) => `${rec(o.roleRef).kind}/${rec(o.roleRef).name}`), AGE],
  'roles.rbac.authorization.k8s.io': [NAME, col('Created At', (o) => o.metadata.creationTimestamp ?? '', { type: 'date' })],
  'clusterroles.rbac.authorization.k8s.io': [NAME, col('Created At', (o) => o.metadata.creationTimestamp ?? '', { type: 'date' })],
};

function nodeRoles(o: KObject): string {
  const roles = new Set<string>();
  for (const [k, v] of Object.entries(o.metadata.labels ?? {})) {
    if (k.startsWith('node-role.kubernetes.io/')) roles.add(k.slice('node-role.kubernetes.io/'.length));
    else if (k === 'kubernetes.io/role' && v) roles.add(v);
  }
  return roles.size ? [...roles].sort().join(',') : '<none>';
}

function accessModes(v: unknown): string {
  const short: Record<string, string> = { ReadWriteOnce: 'RWO', ReadOnlyMany: 'ROX', ReadWriteMany: 'RWX', ReadWriteOncePod: 'RWOP' };
  return ((v as string[]) ?? []).map((m) => short[m] ?? m).join(',');
}

export interface PrinterColumn {
  name: string;
  type: string;
  format?: string;
  description?: string;
  priority?: number;
  jsonPath: string;
}

/** Columns for a type: built-in table, the CRD's printer columns, or NAME/AGE. */
export function columnsFor(t: ResourceType, printerColumns?: PrinterColumn[]): Column[] {
  const key = t.group ? `${t.resource}.${t.group}` : t.resource;
  const builtin = BUILTIN_COLUMNS[key];
  if (builtin) return builtin;
  if (printerColumns && printerColumns.length) {
    const cols: Column[] = [NAME];
    for (const pc of printerColumns) {
      const jp = new JSONPath(pc.jsonPath);
      cols.push({
        name: pc.name,
        type: pc.type,
        format: pc.format ?? '',
        description: pc.description ?? '',
        priority: pc.priority ?? 0,
        cell: (o, now) => {
          const v = jp.first(o);
          if (v === undefined) return null;
          if (pc.type === 'date' && typeof v === 'string') return humanDuration(now - Date.parse(v));
          return typeof v === 'object' ? JSON.stringify(v) : v;
        },
      });
    }
    if (!printerColumns.some((p) => p.jsonPath === '.metadata.creationTimestamp')) cols.push(AGE);
    return cols;
  }
  return [NAME, AGE];
}

export type IncludeObject = 'None' | 'Metadata' | 'Object';

function rowObject(o: KObject, include: IncludeObject): unknown {
  if (include === 'None') return undefined;
  if (include === 'Object') return o;
  return { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata };
}

export function toTable(columns: Column[], items: KObject[], meta: Record<string, unknown>, include: IncludeObject, now: number, withDefinitions = true): Record<string, unknown> {
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: meta,
    columnDefinitions: withDefinitions ? columns.map(({ cell: _c, ...d }) => d) : null,
    rows: items.map((o) => {
      const row: Record<string, unknown> = { cells: columns.map((c) => c.cell(o, now) ?? null), object: rowObject(o, include) };
      if (row.object === undefined) delete row.object;
      return row;
    }),
  };
}
