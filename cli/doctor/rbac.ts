/**
 * What Coffer's identity must be allowed to do, and a matcher for the rules a SelfSubjectRulesReview returns —
 * RBAC's own semantics (https://kubernetes.io/docs/reference/access-authn-authz/rbac/): a rule allows a request when
 * its verbs, apiGroups and resources each contain the request's value or "*"; "pods/exec" is a resource of its own.
 */
export interface Need {
  verb: string;
  group: string;
  resource: string;
  why: string;
}

export const COFFER_NEEDS: Need[] = [
  { verb: 'list', group: '', resource: 'namespaces', why: 'select namespaces by policy' },
  { verb: 'list', group: '*', resource: '*', why: 'export every object of a selected namespace' },
  { verb: 'get', group: '', resource: 'secrets', why: 'read repository keys and credentials' },
  { verb: 'create', group: '', resource: 'persistentvolumeclaims', why: 'volume copies for the mover' },
  { verb: 'create', group: 'batch', resource: 'jobs', why: 'mover Jobs' },
  { verb: 'get', group: '', resource: 'pods/log', why: 'read mover results' },
  { verb: 'create', group: '', resource: 'pods/exec', why: 'blueprint KubeExec hooks' },
  { verb: 'create', group: 'snapshot.storage.k8s.io', resource: 'volumesnapshots', why: 'CSI snapshots' },
  { verb: 'update', group: 'coordination.k8s.io', resource: 'leases', why: 'one reconciler at a time' },
  { verb: 'patch', group: 'apps', resource: 'statefulsets', why: 'ScaleWorkload hooks and restores' },
];

export interface ResourceRule {
  verbs: string[];
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
}

const has = (list: string[] | undefined, v: string) => !!list && (list.includes('*') || list.includes(v));

/** Whether any rule allows `need` on every object (a rule limited to resourceNames does not). */
export function allowedBy(rules: ResourceRule[], need: Pick<Need, 'verb' | 'group' | 'resource'>): boolean {
  return rules.some((r) => !r.resourceNames?.length && has(r.verbs, need.verb) && (need.group === '*' ? r.apiGroups?.includes('*') : has(r.apiGroups, need.group)) && (need.resource === '*' ? r.resources?.includes('*') : has(r.resources, need.resource)));
}
