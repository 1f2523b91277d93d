/**
 * Coverage, escalation prevention, refusal texts, validation, aggregation,
 * impersonation and the access reviews, each against Kubernetes' own tables
 * and strings (sources named per case: policy_comparator_test.go,
 * rule_test.go, the RBAC docs page, apiserver's responsewriters/errors.go and
 * impersonation_test.go, pkg/apis/rbac/validation).
 */
import { describe, expect, it } from 'vitest';
import { covers, compactRules } from '../../../sandbox/api/rbac/covers.ts';
import { checkBindingWrite, checkRoleWrite } from '../../../sandbox/api/rbac/escalation.ts';
import { compactString, escalationMessage, forbidden } from '../../../sandbox/api/rbac/forbidden.ts';
import { validateRbac, rbacDefaults } from '../../../sandbox/api/rbac/validation.ts';
import { aggregatedRules, aggregationPass } from '../../../sandbox/api/rbac/aggregation.ts';
import { impersonate, wantsImpersonation } from '../../../sandbox/api/rbac/impersonation.ts';
import { answerReview } from '../../../sandbox/api/rbac/reviews.ts';
import { RbacAuthorizer } from '../../../sandbox/api/rbac/authorizer.ts';
import { MemoryRbacLister, type RbacObjects } from '../../../sandbox/api/rbac/lister.ts';
import { BOOTSTRAP_CLUSTER_ROLES, BOOTSTRAP_CLUSTER_ROLE_BINDINGS } from '../../../sandbox/api/rbac/policy.ts';
import { invalid } from '../../../sandbox/api/errors.ts';
import type { RoleObject, BindingObject } from '../../../sandbox/api/rbac/types.ts';
import { clusterRole, clusterRoleBinding, nonRes, res, role, roleBinding, rule, user } from './tables.ts';

const SA = 'system:serviceaccount:coffer-system:coffer';
const saUser = user(SA, 'system:serviceaccounts,system:serviceaccounts:coffer-system,system:authenticated');

describe('covers (policy_comparator_test.go)', () => {
  const cases: { name: string; owner: ReturnType<typeof rule>[]; servant: ReturnType<typeof rule>[]; covered: boolean; missing?: ReturnType<typeof rule>[] }[] = [
    { name: 'single resource, exact match', owner: [rule('get', 'v1', 'builds')], servant: [rule('get', 'v1', 'builds')], covered: true },
    { name: 'single non-resource, exact match', owner: [rule('get', '', '', '/foo')], servant: [rule('get', '', '', '/foo')], covered: true },
    { name: 'single resource, sub-resource uncovered', owner: [rule('get', 'v1', 'builds')], servant: [rule('get', 'v1', 'builds/log')], covered: false, missing: [rule('get', 'v1', 'builds/log')] },
    { name: '*/subresource covers any resource\'s subresource', owner: [rule('get', 'v1', '*/log')], servant: [rule('get', 'v1', 'builds/log,pods/log')], covered: true },
    { name: 'multiple resources: one uncovered verb', owner: [rule('get,list', 'v1', 'builds')], servant: [rule('get,delete', 'v1', 'builds')], covered: false, missing: [rule('delete', 'v1', 'builds')] },
    { name: 'star verb, group and resource cover everything', owner: [rule('*', '*', '*')], servant: [rule('get,delete', 'apps,batch', 'deployments,jobs')], covered: true },
    { name: 'resource names: owner without names covers named servant', owner: [rule('get', 'v1', 'builds')], servant: [rule('get', 'v1', 'builds', '', 'foo')], covered: true },
    { name: 'resource names: named owner does not cover unnamed servant', owner: [rule('get', 'v1', 'builds', '', 'foo')], servant: [rule('get', 'v1', 'builds')], covered: false, missing: [rule('get', 'v1', 'builds')] },
    { name: 'resource names: some names uncovered', owner: [rule('get', 'v1', 'builds', '', 'foo,bar')], servant: [rule('get', 'v1', 'builds', '', 'foo,baz')], covered: false, missing: [rule('get', 'v1', 'builds', '', 'baz')] },
    { name: 'non-resource URL prefix', owner: [rule('get', '', '', '/api/*')], servant: [rule('get', '', '', '/api/v1,/apis')], covered: false, missing: [rule('get', '', '', '/apis')] },
    { name: 'resource rules never cover non-resource URLs', owner: [rule('*', '*', '*')], servant: [rule('get', '', '', '/metrics')], covered: false, missing: [rule('get', '', '', '/metrics')] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const r = covers(c.owner, c.servant);
      expect(r.covered).toBe(c.covered);
      if (c.missing) expect(r.missing).toEqual(c.missing);
    });
  }
  it('compacts missing rules that differ only by verb (policy_compact.go)', () => {
    expect(compactRules([rule('get', '', 'secrets'), rule('list', '', 'secrets'), rule('get', '', 'pods', '', 'p'), rule('watch', '', 'secrets')])).toEqual([rule('get', '', 'pods', '', 'p'), rule('get,list,watch', '', 'secrets')]);
  });
});

describe('refusal texts (responsewriters/errors.go, apierrors.NewForbidden)', () => {
  it('a named resource in a namespace', () => {
    const e = forbidden(res(saUser, 'delete', '', 'pods', 'shop', 'x'));
    expect(e.toStatus()).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'pods "x" is forbidden: User "system:serviceaccount:coffer-system:coffer" cannot delete resource "pods" in API group "" in the namespace "shop"',
      reason: 'Forbidden',
      details: { name: 'x', kind: 'pods' },
      code: 403,
    });
  });
  it('a list without a name, at the cluster scope, a subresource, a group, a path', () => {
    expect(forbidden(res(saUser, 'list', '', 'secrets', 'shop')).message).toBe('secrets is forbidden: User "system:serviceaccount:coffer-system:coffer" cannot list resource "secrets" in API group "" in the namespace "shop"');
    expect(forbidden(res(user('u'), 'list', '', 'nodes')).message).toBe('nodes is forbidden: User "u" cannot list resource "nodes" in API group "" at the cluster scope');
    expect(forbidden(res(user('u'), 'create', '', 'pods/exec', 'shop', 'web')).message).toBe('pods "web" is forbidden: User "u" cannot create resource "pods/exec" in API group "" in the namespace "shop"');
    const d = forbidden(res(user('u'), 'patch', 'apps', 'deployments', 'shop', 'web'));
    expect(d.message).toBe('deployments.apps "web" is forbidden: User "u" cannot patch resource "deployments" in API group "apps" in the namespace "shop"');
    expect(d.details).toEqual({ name: 'web', group: 'apps', kind: 'deployments' });
    const p = forbidden(nonRes(user('u'), 'get', '/metrics'));
    expect(p.message).toBe('forbidden: User "u" cannot get path "/metrics"');
    expect(p.details).toEqual({});
  });
  it('a resolution error follows the message after ": "', () => {
    expect(forbidden(res(user('u'), 'get', '', 'pods', 'shop', 'x'), 'RBAC: role.rbac.authorization.k8s.io "gone" not found').message).toBe(
      'pods "x" is forbidden: User "u" cannot get resource "pods" in API group "" in the namespace "shop": RBAC: role.rbac.authorization.k8s.io "gone" not found',
    );
  });
  it('escalation text: compact rules sorted one per line, groups in Go %q (rule.go ConfirmNoEscalation)', () => {
    expect(compactString(rule('get,list', '', 'secrets'))).toBe('{APIGroups:[""], Resources:["secrets"], Verbs:["get" "list"]}');
    expect(compactString(rule('get', '', '', '/metrics'))).toBe('{NonResourceURLs:["/metrics"], Verbs:["get"]}');
    expect(escalationMessage(user('u', 'a,b'), [rule('get', '', 'secrets'), rule('create', 'apps', 'deployments', '', 'web')])).toBe(
      'user "u" (groups=["a" "b"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:[""], Resources:["secrets"], Verbs:["get"]}\n{APIGroups:["apps"], Resources:["deployments"], ResourceNames:["web"], Verbs:["create"]}',
    );
  });
});

describe('escalation prevention (RBAC docs "Privilege escalation prevention and bootstrapping")', () => {
  const objects: RbacObjects = {
    clusterRoles: [clusterRole('cluster-admin', rule('*', '*', '*'), rule('*', '', '', '*')), clusterRole('pod-reader', rule('get,list', '', 'pods')), clusterRole('secret-reader', rule('get', '', 'secrets')), clusterRole('role-grantor', rule('bind', 'rbac.authorization.k8s.io', 'clusterroles', '', 'secret-reader')), clusterRole('escalator', rule('escalate', 'rbac.authorization.k8s.io', 'roles'))],
    roleBindings: [roleBinding('shop', 'pod-reader', 'ClusterRole', 'User:dev'), roleBinding('shop', 'role-grantor', 'ClusterRole', 'User:grantor'), roleBinding('shop', 'escalator', 'ClusterRole', 'User:esc')],
  };
  const lister = new MemoryRbacLister(objects);
  const ctx = (u: ReturnType<typeof user>) => ({ authorizer: new RbacAuthorizer(lister), lister, user: u });
  const readPods: RoleObject = { metadata: { namespace: 'shop', name: 'r' }, rules: [rule('get', '', 'pods')] };
  const readSecrets: RoleObject = { metadata: { namespace: 'shop', name: 'r' }, rules: [rule('get', '', 'secrets')] };

  it('a Role within what the caller holds is allowed; beyond it is 403 with the missing rules', () => {
    expect(checkRoleWrite(ctx(user('dev')), 'shop', '', readPods)).toBeUndefined();
    const e = checkRoleWrite(ctx(user('dev', 'system:authenticated')), 'shop', '', readSecrets)!;
    expect(e.code).toBe(403);
    expect(e.message).toBe('roles.rbac.authorization.k8s.io "r" is forbidden: user "dev" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:[""], Resources:["secrets"], Verbs:["get"]}');
    expect(checkRoleWrite(ctx(user('dev')), 'other', '', { ...readPods, metadata: { namespace: 'other', name: 'r' } })).toBeDefined();
  });
  it('system:masters and holders of escalate may grant anything', () => {
    expect(checkRoleWrite(ctx(user('root', 'system:masters')), 'shop', '', readSecrets)).toBeUndefined();
    expect(checkRoleWrite(ctx(user('esc')), 'shop', '', readSecrets)).toBeUndefined();
    expect(checkRoleWrite(ctx(user('esc')), '', '', { metadata: { name: 'c' }, rules: [rule('get', '', 'secrets')] })).toBeDefined();
  });
  it('an unchanged rule set passes on update (only metadata changed); an aggregationRule needs full authority', () => {
    const old: RoleObject = { metadata: { name: 'c' }, rules: [rule('get', '', 'secrets')] };
    expect(checkRoleWrite(ctx(user('dev')), '', 'c', { metadata: { name: 'c', labels: { a: 'b' } }, rules: [rule('get', '', 'secrets')] }, old)).toBeUndefined();
    const e = checkRoleWrite(ctx(user('dev')), '', '', { metadata: { name: 'agg' }, rules: [], aggregationRule: { clusterRoleSelectors: [] } })!;
    expect(e.message).toBe('clusterroles.rbac.authorization.k8s.io "agg" is forbidden: must have cluster-admin privileges to use the aggregationRule');
  });
  it('malformed bodies never break the check (validation refuses them afterwards)', () => {
    for (const rules of ['x', [null, 'y', { verbs: 'get' }], { a: 1 }]) expect(() => checkRoleWrite(ctx(user('dev')), 'shop', '', { metadata: { namespace: 'shop', name: 'r' }, rules } as unknown as RoleObject)).not.toThrow();
    const noRef = checkBindingWrite(ctx(user('dev')), 'shop', { metadata: { namespace: 'shop', name: 'b' } } as unknown as BindingObject)!;
    expect([noRef.code, noRef.message]).toEqual([500, 'Internal error occurred: unsupported role reference kind: ""']);
  });
  it('binding: bind on the role (resourceNames honoured) or coverage of its rules; a missing role is 404', () => {
    const bind = (name: string, kind: 'Role' | 'ClusterRole' = 'ClusterRole'): BindingObject => ({ metadata: { namespace: 'shop', name: 'b' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind, name }, subjects: [{ kind: 'User', name: 'x' }] });
    expect(checkBindingWrite(ctx(user('dev')), 'shop', bind('pod-reader'))).toBeUndefined();
    expect(checkBindingWrite(ctx(user('grantor')), 'shop', bind('secret-reader'))).toBeUndefined();
    expect(checkBindingWrite(ctx(user('grantor')), 'other', { ...bind('secret-reader'), metadata: { namespace: 'other', name: 'b' } })?.code).toBe(403);
    expect(checkBindingWrite(ctx(user('grantor')), 'shop', bind('cluster-admin'))?.code).toBe(403);
    const crb = checkBindingWrite(ctx(saUser), '', { metadata: { name: 'take-over' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' }, subjects: [] })!;
    expect(crb.message).toBe(
      'clusterrolebindings.rbac.authorization.k8s.io "take-over" is forbidden: user "system:serviceaccount:coffer-system:coffer" (groups=["system:serviceaccounts" "system:serviceaccounts:coffer-system" "system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:["*"], Resources:["*"], Verbs:["*"]}\n{NonResourceURLs:["*"], Verbs:["*"]}',
    );
    const missing = checkBindingWrite(ctx(user('dev')), 'shop', bind('nope', 'Role'))!;
    expect([missing.code, missing.message]).toEqual([404, 'roles.rbac.authorization.k8s.io "nope" not found']);
  });
});

describe('validation (pkg/apis/rbac/validation)', () => {
  const msg = (kind: string, obj: Record<string, unknown>, old?: Record<string, unknown>) => {
    const errs = validateRbac(kind, obj, old);
    return errs.length ? invalid(kind, 'rbac.authorization.k8s.io', 'x', errs).message : '';
  };
  it('roleRef kind, apiGroup and name', () => {
    expect(msg('RoleBinding', { roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Foo', name: 'r' } })).toBe('RoleBinding.rbac.authorization.k8s.io "x" is invalid: roleRef.kind: Unsupported value: "Foo": supported values: "Role", "ClusterRole"');
    expect(msg('ClusterRoleBinding', { roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'r' } })).toBe('ClusterRoleBinding.rbac.authorization.k8s.io "x" is invalid: roleRef.kind: Unsupported value: "Role": supported values: "ClusterRole"');
    expect(msg('RoleBinding', { roleRef: { apiGroup: 'x', kind: 'Role', name: '' } })).toBe('RoleBinding.rbac.authorization.k8s.io "x" is invalid: [roleRef.apiGroup: Unsupported value: "x": supported values: "rbac.authorization.k8s.io", roleRef.name: Required value]');
  });
  it('subjects', () => {
    const ref = { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'r' };
    expect(msg('ClusterRoleBinding', { roleRef: ref, subjects: [{ kind: 'ServiceAccount', name: 'coffer' }] })).toBe('ClusterRoleBinding.rbac.authorization.k8s.io "x" is invalid: subjects[0].namespace: Required value');
    expect(msg('RoleBinding', { roleRef: ref, subjects: [{ kind: 'ServiceAccount', name: 'coffer' }] })).toBe('');
    expect(msg('RoleBinding', { roleRef: ref, subjects: [{ kind: 'Robot', name: 'r2' }] })).toBe('RoleBinding.rbac.authorization.k8s.io "x" is invalid: subjects[0].kind: Unsupported value: "Robot": supported values: "ServiceAccount", "User", "Group"');
    expect(msg('RoleBinding', { roleRef: ref, subjects: [{ kind: 'User', name: 'ann', apiGroup: '' }] })).toContain('subjects[0].apiGroup: Unsupported value: "": supported values: "rbac.authorization.k8s.io"');
  });
  it('defaults fill roleRef.apiGroup and User/Group apiGroup (pkg/apis/rbac/v1/defaults.go)', () => {
    const b: Record<string, unknown> = { roleRef: { kind: 'Role', name: 'r' }, subjects: [{ kind: 'User', name: 'ann' }, { kind: 'ServiceAccount', name: 'sa' }] };
    rbacDefaults('RoleBinding', b);
    expect(b).toEqual({ roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'r' }, subjects: [{ kind: 'User', name: 'ann', apiGroup: 'rbac.authorization.k8s.io' }, { kind: 'ServiceAccount', name: 'sa' }] });
    expect(msg('RoleBinding', b)).toBe('');
  });
  it('rules', () => {
    expect(msg('Role', { rules: [{ apiGroups: [''], resources: ['pods'] }] })).toBe('Role.rbac.authorization.k8s.io "x" is invalid: rules[0].verbs: Required value: verbs must contain at least one value');
    expect(msg('Role', { rules: [{ verbs: ['get'], nonResourceURLs: ['/x'] }] })).toBe('Role.rbac.authorization.k8s.io "x" is invalid: rules[0].nonResourceURLs: Invalid value: []string{"/x"}: namespaced rules cannot apply to non-resource URLs');
    expect(msg('ClusterRole', { rules: [{ verbs: ['get'], nonResourceURLs: ['/x'] }] })).toBe('');
    expect(msg('ClusterRole', { rules: [{ verbs: ['get'] }] })).toBe('ClusterRole.rbac.authorization.k8s.io "x" is invalid: [rules[0].apiGroups: Required value: resource rules must supply at least one api group, rules[0].resources: Required value: resource rules must supply at least one resource]');
    expect(msg('ClusterRole', { rules: [{ verbs: ['get'], apiGroups: [''], resources: ['pods', 'secrets'], resourceNames: ['a'] }] })).toBe('ClusterRole.rbac.authorization.k8s.io "x" is invalid: rules[0].resourceNames: Required value: resource names cannot apply to multiple resources');
  });
  it('roleRef is immutable', () => {
    const old = { roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' } };
    expect(msg('RoleBinding', { roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'edit' } }, old)).toBe(
      'RoleBinding.rbac.authorization.k8s.io "x" is invalid: roleRef: Invalid value: rbac.RoleRef{APIGroup:"rbac.authorization.k8s.io", Kind:"ClusterRole", Name:"edit"}: cannot change roleRef',
    );
  });
});

describe('aggregation (clusterroleaggregation controller; RBAC docs "Aggregated ClusterRoles")', () => {
  it('fills an aggregated role from the roles its selectors match, in name order, without duplicates', () => {
    const monitoring: RoleObject = { metadata: { name: 'monitoring' }, aggregationRule: { clusterRoleSelectors: [{ matchLabels: { 'rbac.example.com/aggregate-to-monitoring': 'true' } }] }, rules: [] };
    const endpoints: RoleObject = { metadata: { name: 'monitoring-endpoints', labels: { 'rbac.example.com/aggregate-to-monitoring': 'true' } }, rules: [rule('get,list,watch', '', 'services,endpointslices,pods')] };
    const again: RoleObject = { metadata: { name: 'a-dup', labels: { 'rbac.example.com/aggregate-to-monitoring': 'true' } }, rules: [rule('get,list,watch', '', 'services,endpointslices,pods'), rule('get', '', 'nodes')] };
    expect(aggregatedRules(monitoring, [monitoring, endpoints, again])).toEqual([rule('get,list,watch', '', 'services,endpointslices,pods'), rule('get', '', 'nodes')]);
    expect(aggregatedRules(endpoints, [monitoring, endpoints])).toBeUndefined();
  });
  it('two aggregated roles selecting each other settle instead of trading rules forever', () => {
    let roles: RoleObject[] = [
      { metadata: { name: 'a', labels: { x: 'a' } }, aggregationRule: { clusterRoleSelectors: [{ matchLabels: { x: 'b' } }] }, rules: [rule('get', '', 'pods')] },
      { metadata: { name: 'b', labels: { x: 'b' } }, aggregationRule: { clusterRoleSelectors: [{ matchLabels: { x: 'a' } }] }, rules: [rule('get', '', 'secrets')] },
    ];
    let passes = 0;
    for (let changes = aggregationPass(roles); changes.length; changes = aggregationPass(roles), passes++) {
      expect(passes).toBeLessThan(3);
      roles = roles.map((r) => ({ ...r, rules: changes.find((c) => c.name === r.metadata.name)?.rules ?? r.rules }));
    }
    expect(roles.map((r) => r.rules)).toEqual([[rule('get', '', 'secrets')], [rule('get', '', 'secrets')]]);
  });
  it('the bootstrap admin ⊇ edit ⊇ view chain settles after repeated passes', () => {
    let roles = BOOTSTRAP_CLUSTER_ROLES.map((r) => structuredClone(r) as unknown as RoleObject);
    for (let i = 0; i < 5; i++) {
      const changes = aggregationPass(roles);
      if (!changes.length) break;
      roles = roles.map((r) => ({ ...r, rules: changes.find((c) => c.name === r.metadata.name)?.rules ?? r.rules }));
    }
    expect(aggregationPass(roles)).toEqual([]);
    const lister = new MemoryRbacLister({ clusterRoles: roles, roleBindings: [roleBinding('shop', 'view', 'ClusterRole', 'User:v'), roleBinding('shop', 'edit', 'ClusterRole', 'User:e'), roleBinding('shop', 'admin', 'ClusterRole', 'User:a')] });
    const authz = new RbacAuthorizer(lister);
    const can = (u: string, verb: string, group: string, resource: string) => authz.authorize(res(user(u), verb, group, resource, 'shop', 'x')).decision === 'allow';
    expect([can('v', 'get', '', 'pods'), can('v', 'get', '', 'secrets'), can('v', 'delete', '', 'pods')]).toEqual([true, false, false]);
    expect([can('e', 'get', '', 'pods'), can('e', 'get', '', 'secrets'), can('e', 'delete', '', 'pods'), can('e', 'create', '', 'pods/exec'), can('e', 'create', 'rbac.authorization.k8s.io', 'roles')]).toEqual([true, true, true, true, false]);
    expect([can('a', 'create', 'rbac.authorization.k8s.io', 'rolebindings'), can('a', 'get', 'apps', 'deployments')]).toEqual([true, true]);
  });
});

describe('bootstrap policy (bootstrappolicy testdata)', () => {
  const lister = new MemoryRbacLister({ clusterRoles: BOOTSTRAP_CLUSTER_ROLES as unknown as RoleObject[], clusterRoleBindings: BOOTSTRAP_CLUSTER_ROLE_BINDINGS as unknown as BindingObject[] });
  const authz = new RbacAuthorizer(lister);
  it('every authenticated user may discover the API and review itself; unauthenticated users only see public info', () => {
    for (const p of ['/api', '/apis/apps/v1', '/version', '/openapi/v3', '/healthz']) expect(authz.authorize(nonRes(saUser, 'get', p)).decision).toBe('allow');
    expect(authz.authorize(res(saUser, 'create', 'authorization.k8s.io', 'selfsubjectaccessreviews')).decision).toBe('allow');
    expect(authz.authorize(res(saUser, 'create', 'authorization.k8s.io', 'subjectaccessreviews')).decision).toBe('no-opinion');
    expect(authz.authorize(nonRes(saUser, 'get', '/metrics')).decision).toBe('no-opinion');
    const anon = user('system:anonymous', 'system:unauthenticated');
    expect(authz.authorize(nonRes(anon, 'get', '/version')).decision).toBe('allow');
    expect(authz.authorize(nonRes(anon, 'get', '/api')).decision).toBe('no-opinion');
  });
});

describe('impersonation (impersonation_test.go)', () => {
  const lister = new MemoryRbacLister({
    clusterRoles: [clusterRole('impersonate-users', rule('impersonate', '', 'users', '', 'alice')), clusterRole('impersonate-groups', rule('impersonate', '', 'groups'))],
    roles: [role('shop', 'impersonate-sa', rule('impersonate', '', 'serviceaccounts'))],
    clusterRoleBindings: [clusterRoleBinding('impersonate-users', 'User:ops'), clusterRoleBinding('impersonate-groups', 'User:ops')],
    roleBindings: [roleBinding('shop', 'impersonate-sa', 'Role', 'User:ops')],
  });
  const authz = new RbacAuthorizer(lister);
  const ops = user('ops', 'system:authenticated');
  it('no headers: no impersonation', () => expect(impersonate({ accept: ['x'] }, ops, authz)).toBeUndefined());
  it('which requests ask for it', () => {
    expect([wantsImpersonation({ accept: 'x' }), wantsImpersonation({ 'impersonate-user': 'a' }), wantsImpersonation({ 'impersonate-extra-scopes': 'v' }), wantsImpersonation({ 'impersonate-user': '' })]).toEqual([false, true, true, false]);
  });
  it('a user named in resourceNames; system:authenticated is added', () => {
    expect(impersonate({ 'impersonate-user': ['alice'] }, ops, authz)).toEqual({ username: 'alice', groups: ['system:authenticated'] });
    expect(impersonate({ 'impersonate-user': ['alice'], 'impersonate-group': ['devs', 'ops'] }, ops, authz)).toEqual({ username: 'alice', groups: ['devs', 'ops', 'system:authenticated'] });
  });
  it('a ServiceAccount is checked as serviceaccounts in its namespace and gets its groups', () => {
    expect(impersonate({ 'impersonate-user': ['system:serviceaccount:shop:robot'] }, ops, authz)).toEqual({ username: 'system:serviceaccount:shop:robot', groups: ['system:serviceaccounts', 'system:serviceaccounts:shop', 'system:authenticated'] });
    expect(() => impersonate({ 'impersonate-user': ['system:serviceaccount:other:robot'] }, ops, authz)).toThrow('serviceaccounts "robot" is forbidden: User "ops" cannot impersonate resource "serviceaccounts" in API group "" in the namespace "other"');
  });
  it('refusals name the part that was refused', () => {
    expect(() => impersonate({ 'impersonate-user': ['bob'] }, ops, authz)).toThrow('users "bob" is forbidden: User "ops" cannot impersonate resource "users" in API group "" at the cluster scope');
    expect(() => impersonate({ 'impersonate-user': ['x'] }, user('y'), authz)).toThrow('users "x" is forbidden: User "y" cannot impersonate resource "users" in API group "" at the cluster scope');
    expect(() => impersonate({ 'impersonate-user': ['alice'], 'impersonate-uid': ['1234'] }, ops, authz)).toThrow('uids.authentication.k8s.io "1234" is forbidden: User "ops" cannot impersonate resource "uids" in API group "authentication.k8s.io" at the cluster scope');
    expect(() => impersonate({ 'impersonate-group': ['devs'] }, ops, authz)).toThrow('without impersonating a user');
  });
  it('system:masters may impersonate anyone, including system:anonymous (gets system:unauthenticated)', () => {
    expect(impersonate({ 'impersonate-user': ['system:anonymous'] }, user('root', 'system:masters'), authz)).toEqual({ username: 'system:anonymous', groups: ['system:unauthenticated'] });
    expect(impersonate({ 'impersonate-user': ['x'], 'impersonate-extra-scopes': ['view'] }, user('root', 'system:masters'), authz)).toEqual({ username: 'x', groups: ['system:authenticated'], extra: { scopes: ['view'] } });
  });
});

describe('access reviews (pkg/registry/authorization)', () => {
  const lister = new MemoryRbacLister({ clusterRoles: [clusterRole('deleter', rule('delete', '', 'pods'))], roleBindings: [roleBinding('shop', 'deleter', 'ClusterRole', 'ServiceAccount:coffer-system:coffer')] });
  const ctx = { authorizer: new RbacAuthorizer(lister), user: saUser };
  it('SelfSubjectAccessReview answers for the caller', () => {
    expect(answerReview('SelfSubjectAccessReview', { spec: { resourceAttributes: { verb: 'delete', resource: 'pods', namespace: 'shop' } } }, ctx)).toEqual({ allowed: true, reason: 'RBAC: allowed by RoleBinding "deleter/shop" of ClusterRole "deleter" to ServiceAccount "coffer/coffer-system"' });
    expect(answerReview('SelfSubjectAccessReview', { spec: { resourceAttributes: { verb: 'delete', resource: 'pods', namespace: 'other' } } }, ctx)).toEqual({ allowed: false });
    expect(() => answerReview('SelfSubjectAccessReview', { spec: {} }, ctx)).toThrow('SelfSubjectAccessReview.authorization.k8s.io "" is invalid: spec.resourceAttributes: Invalid value: "null": exactly one of nonResourceAttributes or resourceAttributes must be specified');
  });
  it('SubjectAccessReview answers for the named user and groups only', () => {
    expect(answerReview('SubjectAccessReview', { spec: { user: SA, resourceAttributes: { verb: 'delete', resource: 'pods', namespace: 'shop' } } }, { ...ctx, user: user('root', 'system:masters') }).allowed).toBe(true);
    expect(answerReview('SubjectAccessReview', { spec: { user: 'x', groups: ['system:masters'], nonResourceAttributes: { verb: 'get', path: '/metrics' } } }, ctx).allowed).toBe(true);
    expect(() => answerReview('SubjectAccessReview', { spec: { resourceAttributes: { verb: 'get' } } }, ctx)).toThrow('spec.user: Invalid value: "": at least one of user or group must be specified');
  });
  it('LocalSubjectAccessReview is pinned to the URL namespace', () => {
    expect(answerReview('LocalSubjectAccessReview', { spec: { user: SA, resourceAttributes: { verb: 'delete', resource: 'pods' } } }, { ...ctx, namespace: 'shop' }).allowed).toBe(true);
    expect(() => answerReview('LocalSubjectAccessReview', { spec: { user: SA, resourceAttributes: { verb: 'delete', resource: 'pods', namespace: 'x' } } }, { ...ctx, namespace: 'shop' })).toThrow('spec.resourceAttributes.namespace must match namespace: shop');
  });
  it('SelfSubjectRulesReview lists the rules in a namespace', () => {
    expect(answerReview('SelfSubjectRulesReview', { spec: { namespace: 'shop' } }, ctx)).toEqual({ resourceRules: [{ verbs: ['delete'], apiGroups: [''], resources: ['pods'] }], nonResourceRules: [], incomplete: false });
    expect(() => answerReview('SelfSubjectRulesReview', { spec: {} }, ctx)).toThrow('no namespace on request');
  });
});
