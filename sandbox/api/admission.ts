/**
 * Kind-specific server behaviour: the defaults the real API server fills in on
 * create, what resets on create, immutable fields on update, and the few
 * cross-field checks clients actually hit (selector vs template labels).
 * Pure functions over (old, new) objects plus an IP allocator passed in.
 */
import { fieldForbidden, fieldInvalid, fieldRequired, goValue, invalid, type FieldError } from './errors.ts';
import { deepEqual, isObject, type KObject } from './object.ts';
import type { ResourceType } from './resources.ts';
import { matchRequirements, requirementsFromObject, type LabelSelectorObject } from './selectors.ts';

type Rec = Record<string, unknown>;

export interface Allocators {
  clusterIP(): string;
  nodePort(): number;
  release(ip: string): void;
  /** The default StorageClass name, if one is annotated as default. */
  defaultStorageClass(): string | undefined;
}

function rec(v: unknown): Rec {
  return isObject(v) ? v : {};
}

function setDefault(o: Rec, k: string, v: unknown): void {
  if (o[k] === undefined) o[k] = v;
}

function defaultPodSpec(spec: Rec): void {
  setDefault(spec, 'restartPolicy', 'Always');
  setDefault(spec, 'terminationGracePeriodSeconds', 30);
  setDefault(spec, 'dnsPolicy', 'ClusterFirst');
  setDefault(spec, 'schedulerName', 'default-scheduler');
  setDefault(spec, 'securityContext', {});
  for (const c of [...((spec.containers as Rec[]) ?? []), ...((spec.initContainers as Rec[]) ?? [])]) {
    if (!isObject(c)) continue;
    setDefault(c, 'terminationMessagePath', '/dev/termination-log');
    setDefault(c, 'terminationMessagePolicy', 'File');
    const image = String(c.image ?? '');
    const tagged = /:[^/]+$/.test(image) || image.includes('@');
    setDefault(c, 'imagePullPolicy', !tagged || image.endsWith(':latest') ? 'Always' : 'IfNotPresent');
    setDefault(c, 'resources', {});
    for (const p of (c.ports as Rec[]) ?? []) if (isObject(p)) setDefault(p, 'protocol', 'TCP');
  }
}

function defaultTemplate(spec: Rec): void {
  const tpl = rec(spec.template);
  if (isObject(spec.template)) defaultPodSpec(rec(tpl.spec));
}

/** Fills the fields the real defaulters fill, so `kubectl get -o yaml` shows what users expect. */
export function applyDefaults(t: ResourceType, obj: KObject, alloc: Allocators, creating: boolean, old?: KObject): void {
  const spec = rec(obj.spec);
  const key = t.group ? `${t.resource}.${t.group}` : t.resource;
  switch (key) {
    case 'namespaces':
      obj.spec = { finalizers: ['kubernetes'], ...spec };
      obj.metadata.labels = { ...(obj.metadata.labels ?? {}), 'kubernetes.io/metadata.name': obj.metadata.name! };
      if (creating) obj.status = { phase: 'Active' };
      break;
    case 'secrets': {
      setDefault(obj, 'type', 'Opaque');
      if (isObject(obj.stringData)) {
        const data = { ...rec(obj.data) };
        for (const [k, v] of Object.entries(obj.stringData)) data[k] = Buffer.from(String(v)).toString('base64');
        obj.data = data;
        delete obj.stringData;
      }
      break;
    }
    case 'services': {
      setDefault(spec, 'type', 'ClusterIP');
      setDefault(spec, 'sessionAffinity', 'None');
      const type = spec.type;
      if (type !== 'ExternalName') {
        const oldSpec = rec(old?.spec);
        if (!spec.clusterIP && oldSpec.clusterIP) spec.clusterIP = oldSpec.clusterIP;
        if (!spec.clusterIPs && oldSpec.clusterIPs && spec.clusterIP === oldSpec.clusterIP) spec.clusterIPs = oldSpec.clusterIPs;
        if (!spec.clusterIP) spec.clusterIP = alloc.clusterIP();
        setDefault(spec, 'clusterIPs', [spec.clusterIP]);
        setDefault(spec, 'ipFamilies', ['IPv4']);
        setDefault(spec, 'ipFamilyPolicy', 'SingleStack');
        setDefault(spec, 'internalTrafficPolicy', 'Cluster');
      }
      const oldPorts = ((rec(old?.spec).ports as Rec[]) ?? []).filter(isObject);
      for (const p of (spec.ports as Rec[]) ?? []) {
        if (!isObject(p)) continue;
        setDefault(p, 'protocol', 'TCP');
        setDefault(p, 'targetPort', p.port);
        if (type === 'NodePort' || type === 'LoadBalancer') {
          const prev = oldPorts.find((o) => o.port === p.port && o.protocol === p.protocol);
          setDefault(p, 'nodePort', prev?.nodePort ?? alloc.nodePort());
        }
      }
      if (type === 'NodePort' || type === 'LoadBalancer') setDefault(spec, 'externalTrafficPolicy', 'Cluster');
      if (creating) obj.status = { loadBalancer: {} };
      obj.spec = spec;
      break;
    }
    case 'pods':
      defaultPodSpec(spec);
      setDefault(spec, 'serviceAccountName', 'default');
      setDefault(spec, 'serviceAccount', spec.serviceAccountName);
      setDefault(spec, 'enableServiceLinks', true);
      setDefault(spec, 'preemptionPolicy', 'PreemptLowerPriority');
      setDefault(spec, 'priority', 0);
      obj.spec = spec;
      if (creating) obj.status = { phase: 'Pending', qosClass: 'BestEffort' };
      break;
    case 'deployments.apps':
      setDefault(spec, 'replicas', 1);
      {
        const st = rec(spec.strategy);
        if (!st.type) st.type = 'RollingUpdate';
        if (st.type === 'RollingUpdate') st.rollingUpdate = { maxUnavailable: '25%', maxSurge: '25%', ...rec(st.rollingUpdate) };
        spec.strategy = st;
      }
      setDefault(spec, 'revisionHistoryLimit', 10);
      setDefault(spec, 'progressDeadlineSeconds', 600);
      defaultTemplate(spec);
      obj.spec = spec;
      break;
    case 'statefulsets.apps':
      setDefault(spec, 'replicas', 1);
      setDefault(spec, 'podManagementPolicy', 'OrderedReady');
      {
        const st = rec(spec.updateStrategy);
        if (!st.type) st.type = 'RollingUpdate';
        if (st.type === 'RollingUpdate') st.rollingUpdate = { partition: 0, ...rec(st.rollingUpdate) };
        spec.updateStrategy = st;
      }
      setDefault(spec, 'revisionHistoryLimit', 10);
      setDefault(spec, 'persistentVolumeClaimRetentionPolicy', { whenDeleted: 'Retain', whenScaled: 'Retain' });
      for (const c of (spec.volumeClaimTemplates as Rec[]) ?? []) {
        if (!isObject(c)) continue;
        const cs = rec(c.spec);
        setDefault(cs, 'volumeMode', 'Filesystem');
        c.spec = cs;
        setDefault(c, 'apiVersion', 'v1');
        setDefault(c, 'kind', 'PersistentVolumeClaim');
        setDefault(c, 'status', { phase: 'Pending' });
      }
      defaultTemplate(spec);
      obj.spec = spec;
      break;
    case 'replicasets.apps':
      setDefault(spec, 'replicas', 1);
      defaultTemplate(spec);
      obj.spec = spec;
      break;
    case 'daemonsets.apps':
      {
        const st = rec(spec.updateStrategy);
        if (!st.type) st.type = 'RollingUpdate';
        if (st.type === 'RollingUpdate') st.rollingUpdate = { maxUnavailable: 1, maxSurge: 0, ...rec(st.rollingUpdate) };
        spec.updateStrategy = st;
      }
      setDefault(spec, 'revisionHistoryLimit', 10);
      defaultTemplate(spec);
      obj.spec = spec;
      break;
    case 'jobs.batch': {
      setDefault(spec, 'parallelism', 1);
      setDefault(spec, 'completions', 1);
      setDefault(spec, 'backoffLimit', 6);
      setDefault(spec, 'completionMode', 'NonIndexed');
      setDefault(spec, 'suspend', false);
      setDefault(spec, 'podReplacementPolicy', 'TerminatingOrFailed');
      if (creating && !spec.manualSelector) {
        const uid = obj.metadata.uid!;
        const tpl = rec(spec.template);
        const meta = rec(tpl.metadata);
        meta.labels = { ...rec(meta.labels), 'batch.kubernetes.io/controller-uid': uid, 'batch.kubernetes.io/job-name': obj.metadata.name!, 'controller-uid': uid, 'job-name': obj.metadata.name! };
        tpl.metadata = meta;
        spec.template = tpl;
        spec.selector = { matchLabels: { 'batch.kubernetes.io/controller-uid': uid } };
      }
      const ps = rec(rec(spec.template).spec);
      if (ps.restartPolicy === undefined) ps.restartPolicy = 'Always';
      defaultTemplate(spec);
      obj.spec = spec;
      break;
    }
    case 'cronjobs.batch': {
      setDefault(spec, 'concurrencyPolicy', 'Allow');
      setDefault(spec, 'suspend', false);
      setDefault(spec, 'successfulJobsHistoryLimit', 3);
      setDefault(spec, 'failedJobsHistoryLimit', 1);
      const jt = rec(spec.jobTemplate);
      const js = rec(jt.spec);
      setDefault(js, 'backoffLimit', 6);
      setDefault(js, 'completionMode', 'NonIndexed');
      defaultTemplate(js);
      obj.spec = spec;
      break;
    }
    case 'persistentvolumeclaims': {
      setDefault(spec, 'volumeMode', 'Filesystem');
      if (creating && spec.storageClassName === undefined) {
        const sc = alloc.defaultStorageClass();
        if (sc) spec.storageClassName = sc;
      }
      obj.spec = spec;
      if (creating) obj.status = { phase: 'Pending' };
      break;
    }
    case 'persistentvolumes':
      setDefault(spec, 'persistentVolumeReclaimPolicy', spec.hostPath || spec.csi ? 'Delete' : 'Retain');
      setDefault(spec, 'volumeMode', 'Filesystem');
      obj.spec = spec;
      if (creating) obj.status = { phase: 'Pending' };
      break;
    case 'storageclasses.storage.k8s.io':
      setDefault(obj, 'reclaimPolicy', 'Delete');
      setDefault(obj, 'volumeBindingMode', 'Immediate');
      break;
    default:
      break;
  }
}

/** Cross-field validation the schema cannot express. */
export function validateKind(t: ResourceType, obj: KObject): void {
  const spec = rec(obj.spec);
  const errs: FieldError[] = [];
  const key = t.group ? `${t.resource}.${t.group}` : t.resource;
  if (['deployments.apps', 'statefulsets.apps', 'replicasets.apps', 'daemonsets.apps', 'jobs.batch'].includes(key)) {
    const sel = spec.selector as LabelSelectorObject | undefined;
    if (!sel && key !== 'jobs.batch') errs.push(fieldRequired('spec.selector'));
    else if (sel) {
      const reqs = requirementsFromObject(sel);
      if (reqs.length === 0 && key !== 'jobs.batch') errs.push(fieldInvalid('spec.selector', sel, 'empty selector is invalid for deployment'));
      const labels = rec(rec(rec(spec.template).metadata).labels) as Record<string, string>;
      if (reqs.length && !matchRequirements(reqs)(labels)) errs.push(fieldInvalid('spec.template.metadata.labels', labels, '`selector` does not match template `labels`'));
    }
    const containers = rec(rec(spec.template).spec).containers;
    if (!Array.isArray(containers) || containers.length === 0) errs.push(fieldRequired('spec.template.spec.containers'));
  }
  if (key === 'pods') {
    const cs = spec.containers;
    if (!Array.isArray(cs) || cs.length === 0) errs.push(fieldRequired('spec.containers'));
    else cs.forEach((c, i) => {
      if (isObject(c) && !c.image) errs.push(fieldRequired(`spec.containers[${i}].image`));
    });
  }
  if (key === 'services') {
    const type = spec.type;
    const ports = spec.ports;
    if (type !== 'ExternalName' && spec.clusterIP !== 'None' && (!Array.isArray(ports) || ports.length === 0)) errs.push(fieldRequired('spec.ports'));
  }
  if (key === 'persistentvolumeclaims') {
    const modes = spec.accessModes;
    if (!Array.isArray(modes) || modes.length === 0) errs.push(fieldRequired('spec.accessModes', 'at least 1 access mode is required'));
    if (!rec(rec(spec.resources).requests).storage && !spec.dataSourceRef) errs.push(fieldRequired('spec.resources[storage]'));
  }
  if (errs.length) throw invalid(t.kind, t.group, obj.metadata.name ?? '', errs);
}

/** Fields that may not change after creation, with the messages the real validators print. */
export function validateImmutable(t: ResourceType, old: KObject, obj: KObject): void {
  const errs: FieldError[] = [];
  const key = t.group ? `${t.resource}.${t.group}` : t.resource;
  const os = rec(old.spec);
  const ns = rec(obj.spec);
  switch (key) {
    case 'configmaps':
    case 'secrets':
      if (old.immutable === true) {
        if (!deepEqual(old.data, obj.data)) errs.push(fieldForbidden('data', 'field is immutable when `immutable` is set'));
        if (!deepEqual(old.binaryData, obj.binaryData) && key === 'configmaps') errs.push(fieldForbidden('binaryData', 'field is immutable when `immutable` is set'));
        if (obj.immutable !== true) errs.push(fieldForbidden('immutable', 'field is immutable when `immutable` is set'));
      }
      if (key === 'secrets' && old.type !== obj.type) errs.push(fieldInvalid('type', obj.type, 'field is immutable'));
      break;
    case 'services':
      if (os.clusterIP && ns.clusterIP !== os.clusterIP && os.type !== 'ExternalName' && ns.type !== 'ExternalName') {
        errs.push({ type: 'FieldValueInvalid', field: 'spec.clusterIPs[0]', message: `Invalid value: ${goValue(ns.clusterIPs ?? [ns.clusterIP])}: may not change once set` });
      }
      break;
    case 'persistentvolumeclaims': {
      const strip = (s: Rec) => {
        const { resources: _r, volumeAttributesClassName: _v, ...rest } = s;
        return rest;
      };
      const a = strip(os);
      const b = strip(ns);
      if (!a.volumeName && b.volumeName) a.volumeName = b.volumeName;
      if (a.storageClassName === undefined && b.storageClassName !== undefined) a.storageClassName = b.storageClassName;
      if (!deepEqual(a, b)) errs.push(fieldForbidden('spec', 'spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims'));
      break;
    }
    case 'persistentvolumes': {
      const strip = (s: Rec) => {
        const { capacity: _c, claimRef: _r, persistentVolumeReclaimPolicy: _p, mountOptions: _m, nodeAffinity: _n, storageClassName: _s, ...rest } = s;
        return rest;
      };
      if (!deepEqual(strip(os), strip(ns))) errs.push(fieldForbidden('spec.persistentvolumesource', 'spec.persistentvolumesource is immutable after creation'));
      break;
    }
    case 'deployments.apps':
    case 'replicasets.apps':
    case 'daemonsets.apps':
    case 'statefulsets.apps':
      if (!deepEqual(os.selector, ns.selector)) errs.push(fieldInvalid('spec.selector', ns.selector, 'field is immutable'));
      if (key === 'statefulsets.apps') {
        const strip = (s: Rec) => {
          const { replicas: _a, ordinals: _b, template: _c, updateStrategy: _d, persistentVolumeClaimRetentionPolicy: _e, minReadySeconds: _f, ...rest } = s;
          return rest;
        };
        if (!deepEqual(strip(os), strip(ns)))
          errs.push(fieldForbidden('spec', "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"));
      }
      break;
    case 'jobs.batch':
      if (!deepEqual(os.selector, ns.selector)) errs.push(fieldInvalid('spec.selector', ns.selector, 'field is immutable'));
      if (!deepEqual(os.completions, ns.completions) && os.completionMode !== 'Indexed') errs.push(fieldInvalid('spec.completions', ns.completions, 'field is immutable'));
      if (!deepEqual(os.template, ns.template)) errs.push(fieldInvalid('spec.template', ns.template, 'field is immutable'));
      break;
    case 'pods': {
      const strip = (s: Rec) => {
        const c = { ...s };
        c.containers = ((s.containers as Rec[]) ?? []).map((x) => ({ ...x, image: undefined }));
        c.initContainers = ((s.initContainers as Rec[]) ?? []).map((x) => ({ ...x, image: undefined }));
        delete c.activeDeadlineSeconds;
        delete c.tolerations;
        delete c.terminationGracePeriodSeconds;
        delete c.schedulingGates;
        if (!os.nodeName) delete c.nodeName;
        return c;
      };
      if (!deepEqual(strip(os), strip(ns)))
        errs.push(fieldForbidden('spec', 'pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)'));
      break;
    }
    case 'storageclasses.storage.k8s.io':
      if (!deepEqual(old.parameters, obj.parameters)) errs.push(fieldForbidden('parameters', 'updates to parameters are forbidden.'));
      if (old.provisioner !== obj.provisioner) errs.push(fieldForbidden('provisioner', 'updates to provisioner are forbidden.'));
      if (!deepEqual(old.reclaimPolicy, obj.reclaimPolicy)) errs.push(fieldForbidden('reclaimPolicy', 'updates to reclaimPolicy are forbidden.'));
      break;
    default:
      break;
  }
  if (errs.length) throw invalid(t.kind, t.group, obj.metadata.name ?? '', errs);
}

/** Status reset on create for kinds with a status subresource (users cannot create an object with a made-up status). */
export function resetStatusOnCreate(t: ResourceType, obj: KObject): void {
  if (!t.status) return;
  const key = t.group ? `${t.resource}.${t.group}` : t.resource;
  if (['namespaces', 'pods', 'persistentvolumeclaims', 'persistentvolumes', 'services', 'nodes'].includes(key)) return;
  delete obj.status;
}
