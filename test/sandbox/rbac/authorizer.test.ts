/**
 * The authorizer over tables of roles and bindings with requests that must
 * pass and must fail, as Kubernetes' rbac_test.go TestAuthorizer lays them
 * out; further cases follow the RBAC docs page
 * (https://kubernetes.io/docs/reference/access-authn-authz/rbac/).
 */
import { describe, expect, it } from 'vitest';
import { RbacAuthorizer } from '../../../sandbox/api/rbac/authorizer.ts';
import { MemoryRbacLister, type RbacObjects } from '../../../sandbox/api/rbac/lister.ts';
import type { Attributes } from '../../../sandbox/api/auth/types.ts';
import { clusterRole, clusterRoleBinding, nonRes, res, role, roleBinding, rule, show, user } from './tables.ts';

const sa = (ns: string, name: string) => user(`system:serviceaccount:${ns}:${name}`, `system:serviceaccounts,system:serviceaccounts:${ns},system:authenticated`);

const tables: { source: string; objects: RbacObjects; shouldPass: Attributes[]; shouldFail: Attributes[] }[] = [
  {
    source: 'rbac_test.go TestAuthorizer case 1: a RoleBinding to a ClusterRole grants it in that namespace only',
    objects: { clusterRoles: [clusterRole('admin', rule('*', '*', '*'))], roleBindings: [roleBinding('ns1', 'admin', 'ClusterRole', 'User:admin', 'Group:admins')] },
    shouldPass: [
      res(user('admin'), 'get', '', 'Pods', 'ns1'),
      res(user('admin'), 'watch', '', 'Pods', 'ns1'),
      res(user('admin', 'group1'), 'watch', '', 'Foobar', 'ns1'),
      res(user('joe', 'admins'), 'watch', '', 'Foobar', 'ns1'),
      res(user('joe', 'group1,admins'), 'watch', '', 'Foobar', 'ns1'),
    ],
    shouldFail: [
      res(user('admin'), 'GET', '', 'Pods', 'ns2'),
      res(user('admin'), 'GET', '', 'Nodes', ''),
      res(user('admin', 'admins'), 'GET', '', 'Pods', 'ns2'),
      res(user('admin', 'admins'), 'GET', '', 'Nodes', ''),
      res(user('admin'), 'get', '', 'nodes', ''),
    ],
  },
  {
    source: 'rbac_test.go TestAuthorizer case 2: non-resource URLs, exact and by prefix',
    objects: {
      clusterRoles: [clusterRole('non-resource-url-getter', rule('get', '', '', '/apis')), clusterRole('non-resource-url', rule('*', '', '', '/apis')), clusterRole('non-resource-url-prefix', rule('get', '', '', '/apis/*'))],
      clusterRoleBindings: [clusterRoleBinding('non-resource-url-getter', 'User:foo', 'Group:bar'), clusterRoleBinding('non-resource-url', 'User:admin', 'Group:admin'), clusterRoleBinding('non-resource-url-prefix', 'User:prefixed', 'Group:prefixed')],
    },
    shouldPass: [
      nonRes(user('foo'), 'get', '/apis'),
      nonRes(user('', 'bar'), 'get', '/apis'),
      nonRes(user('admin'), 'get', '/apis'),
      nonRes(user('', 'admin'), 'get', '/apis'),
      nonRes(user('admin'), 'watch', '/apis'),
      nonRes(user('admin'), 'create', '/apis'),
      nonRes(user('prefixed'), 'get', '/apis/v1'),
      nonRes(user('', 'prefixed'), 'get', '/apis/v1'),
      nonRes(user('prefixed'), 'get', '/apis/v1/foobar'),
    ],
    shouldFail: [
      nonRes(user('foo'), 'watch', '/apis'),
      nonRes(user('', 'bar'), 'watch', '/apis'),
      nonRes(user('admin'), 'get', '/'),
      nonRes(user('admin'), 'get', '/api'),
      nonRes(user('prefixed'), 'get', '/api'),
      nonRes(user('prefixed'), 'get', '/apis'),
    ],
  },
  {
    source: 'rbac_test.go TestAuthorizer case 3: "pods" does not grant a subresource',
    objects: { clusterRoles: [clusterRole('admin', rule('*', '*', 'pods'))], roleBindings: [roleBinding('ns1', 'admin', 'ClusterRole', 'User:admin', 'Group:admins')] },
    shouldPass: [res(user('admin'), 'get', '', 'pods', 'ns1')],
    shouldFail: [res(user('admin'), 'get', '', 'pods/status', 'ns1'), res(user('admin'), 'create', '', 'pods/exec', 'ns1', 'web')],
  },
  {
    source: 'rbac_test.go TestAuthorizer case 4: pods/status and */scale',
    objects: { clusterRoles: [clusterRole('admin', rule('*', '*', 'pods/status'), rule('*', '*', '*/scale'))], roleBindings: [roleBinding('ns1', 'admin', 'ClusterRole', 'User:admin', 'Group:admins')] },
    shouldPass: [res(user('admin'), 'get', '', 'pods/status', 'ns1'), res(user('admin'), 'get', '', 'pods/scale', 'ns1'), res(user('admin'), 'get', '', 'deployments/scale', 'ns1'), res(user('admin'), 'get', '', 'anything/scale', 'ns1')],
    shouldFail: [res(user('admin'), 'get', '', 'pods', 'ns1')],
  },
  {
    source: 'RBAC docs "RoleBinding examples": a RoleBinding to ClusterRole secret-reader lets dave read secrets in development only',
    objects: { clusterRoles: [clusterRole('secret-reader', rule('get,watch,list', '', 'secrets'))], roleBindings: [roleBinding('development', 'secret-reader', 'ClusterRole', 'User:dave')] },
    shouldPass: [res(user('dave'), 'get', '', 'secrets', 'development', 's'), res(user('dave'), 'list', '', 'secrets', 'development')],
    shouldFail: [res(user('dave'), 'get', '', 'secrets', 'default', 's'), res(user('dave'), 'list', '', 'secrets', ''), res(user('Dave'), 'list', '', 'secrets', 'development')],
  },
  {
    source: 'RBAC docs "Role example": Role pod-reader in default, bound by a RoleBinding in default',
    objects: { roles: [role('default', 'pod-reader', rule('get,watch,list', '', 'pods'))], roleBindings: [roleBinding('default', 'pod-reader', 'Role', 'User:jane')] },
    shouldPass: [res(user('jane'), 'list', '', 'pods', 'default'), res(user('jane'), 'get', '', 'pods', 'default', 'p')],
    shouldFail: [res(user('jane'), 'list', '', 'pods', 'kube-system'), res(user('jane'), 'list', '', 'pods', ''), res(user('jane'), 'delete', '', 'pods', 'default', 'p')],
  },
  {
    source: 'RBAC docs "Referring to subjects": ServiceAccount subjects, system:serviceaccounts:qa and system:authenticated groups',
    objects: {
      clusterRoles: [clusterRole('pod-deleter', rule('delete', '', 'pods')), clusterRole('cm-reader', rule('get', '', 'configmaps')), clusterRole('ev-reader', rule('list', '', 'events'))],
      roleBindings: [
        roleBinding('shop', 'pod-deleter', 'ClusterRole', 'ServiceAccount:coffer-system:coffer'),
        roleBinding('qa', 'cm-reader', 'ClusterRole', 'Group:system:serviceaccounts:qa'),
        roleBinding('qa', 'pod-deleter', 'ClusterRole', 'ServiceAccount::robot'),
      ],
      clusterRoleBindings: [clusterRoleBinding('ev-reader', 'Group:system:authenticated')],
    },
    shouldPass: [
      res(sa('coffer-system', 'coffer'), 'delete', '', 'pods', 'shop', 'x'),
      res(sa('qa', 'anyone'), 'get', '', 'configmaps', 'qa', 'c'),
      res(sa('qa', 'robot'), 'delete', '', 'pods', 'qa', 'x'),
      res(sa('elsewhere', 'x'), 'list', '', 'events', 'any'),
    ],
    shouldFail: [
      res(sa('coffer-system', 'coffer'), 'delete', '', 'pods', 'other', 'x'),
      res(sa('coffer-system', 'other'), 'delete', '', 'pods', 'shop', 'x'),
      res(user('coffer'), 'delete', '', 'pods', 'shop', 'x'),
      res(sa('dev', 'anyone'), 'get', '', 'configmaps', 'qa', 'c'),
      res(sa('dev', 'robot'), 'delete', '', 'pods', 'qa', 'x'),
      res(user('system:anonymous', 'system:unauthenticated'), 'list', '', 'events', 'any'),
    ],
  },
  {
    source: 'RBAC docs "Role and ClusterRole": non-resource URLs are granted through ClusterRoleBindings only',
    objects: { clusterRoles: [clusterRole('healthz', rule('get,post', '', '', '/healthz,/healthz/*'))], roleBindings: [roleBinding('ns1', 'healthz', 'ClusterRole', 'User:rb')], clusterRoleBindings: [clusterRoleBinding('healthz', 'User:crb')] },
    shouldPass: [nonRes(user('crb'), 'get', '/healthz'), nonRes(user('crb'), 'post', '/healthz/etcd')],
    shouldFail: [nonRes(user('rb'), 'get', '/healthz'), nonRes(user('crb'), 'get', '/healthzz')],
  },
  {
    source: 'rule.go GetRoleReferenceRules: a binding whose role is missing grants nothing and other bindings still count',
    objects: { clusterRoles: [clusterRole('reader', rule('get', '', 'pods'))], roleBindings: [roleBinding('ns1', 'gone', 'Role', 'User:u'), roleBinding('ns1', 'reader', 'ClusterRole', 'User:u')] },
    shouldPass: [res(user('u'), 'get', '', 'pods', 'ns1', 'p')],
    shouldFail: [res(user('u'), 'list', '', 'pods', 'ns1')],
  },
];

describe('RBAC authorizer (shouldPass / shouldFail tables)', () => {
  for (const t of tables) {
    it(t.source, () => {
      const authz = new RbacAuthorizer(new MemoryRbacLister(t.objects));
      for (const a of t.shouldPass) expect([show(a), authz.authorize(a).decision]).toEqual([show(a), 'allow']);
      for (const a of t.shouldFail) expect([show(a), authz.authorize(a).decision]).toEqual([show(a), 'no-opinion']);
    });
  }

  it('system:masters is allowed before RBAC is asked (kube-apiserver privileged-group authorizer)', () => {
    const authz = new RbacAuthorizer(new MemoryRbacLister({}));
    expect(authz.authorize(res(user('kubernetes-admin', 'system:masters'), 'delete', '', 'nodes', '', 'n')).decision).toBe('allow');
    expect(authz.authorize(nonRes(user('x', 'system:masters'), 'get', '/metrics')).decision).toBe('allow');
  });

  it('the allow reason names the binding, role and subject; a missing role is the refusal reason (rule.go describers)', () => {
    const authz = new RbacAuthorizer(
      new MemoryRbacLister({
        clusterRoles: [clusterRole('reader', rule('get', '', 'pods'))],
        clusterRoleBindings: [clusterRoleBinding('reader', 'Group:devs')],
        roleBindings: [roleBinding('shop', 'reader', 'ClusterRole', 'ServiceAccount::robot'), roleBinding('shop', 'gone', 'Role', 'ServiceAccount::robot'), roleBinding('shop', 'gone-too', 'ClusterRole', 'ServiceAccount::robot')],
      }),
    );
    expect(authz.authorize(res(user('ann', 'devs'), 'get', '', 'pods', 'x', 'p')).reason).toBe('RBAC: allowed by ClusterRoleBinding "reader" of ClusterRole "reader" to Group "devs"');
    const robot = sa('shop', 'robot');
    expect(authz.authorize(res(robot, 'get', '', 'pods', 'shop', 'p')).reason).toBe('RBAC: allowed by RoleBinding "reader/shop" of ClusterRole "reader" to ServiceAccount "robot/shop"');
    expect(authz.authorize(res(robot, 'list', '', 'pods', 'shop'))).toEqual({ decision: 'no-opinion', reason: 'RBAC: [role.rbac.authorization.k8s.io "gone" not found, clusterrole.rbac.authorization.k8s.io "gone-too" not found]' });
  });

  it('rulesFor lists cluster-binding rules first, then the namespace\'s, split into resource and non-resource rules (SelfSubjectRulesReview)', () => {
    const authz = new RbacAuthorizer(
      new MemoryRbacLister({
        clusterRoles: [clusterRole('discovery', rule('get', '', '', '/api,/api/*')), clusterRole('reader', rule('get', '', 'pods'))],
        roles: [role('shop', 'deleter', rule('delete', '', 'pods'))],
        clusterRoleBindings: [clusterRoleBinding('discovery', 'Group:system:authenticated')],
        roleBindings: [roleBinding('shop', 'deleter', 'Role', 'User:u'), roleBinding('shop', 'reader', 'ClusterRole', 'User:u')],
      }),
    );
    const u = user('u', 'system:authenticated');
    expect(authz.rulesFor(u, 'shop')).toEqual({
      resourceRules: [rule('delete', '', 'pods'), rule('get', '', 'pods')],
      nonResourceRules: [rule('get', '', '', '/api,/api/*')],
      incomplete: false,
    });
    expect(authz.rulesFor(u, 'other').resourceRules).toEqual([]);
  });
});
