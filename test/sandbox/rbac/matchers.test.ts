/**
 * The rule predicates and the request-info parser, as tables. Sources:
 * Kubernetes' plugin/pkg/auth/authorizer/rbac/rbac_test.go (TestRuleMatches),
 * apiserver's endpoints/request/requestinfo_test.go (TestGetAPIRequestInfo) and
 * the RBAC docs page (https://kubernetes.io/docs/reference/access-authn-authz/rbac/).
 */
import { describe, expect, it } from 'vitest';
import { ruleAllows } from '../../../sandbox/api/rbac/matchers.ts';
import { requestAttributes, requestInfo } from '../../../sandbox/api/rbac/requestinfo.ts';
import { nonRes, res, rule, user, show } from './tables.ts';
import type { Attributes } from '../../../sandbox/api/auth/types.ts';
import type { PolicyRule } from '../../../sandbox/api/rbac/types.ts';

const u = user('u');

const cases: { source: string; rule: PolicyRule; expect: [Attributes, boolean][] }[] = [
  {
    source: 'rbac_test.go TestRuleMatches "star verb, exact match other"',
    rule: rule('*', 'group1', 'resource1'),
    expect: [
      [res(u, 'verb1', 'group1', 'resource1'), true],
      [res(u, 'verb1', 'group2', 'resource1'), false],
      [res(u, 'verb1', 'group1', 'resource2'), false],
      [res(u, 'verb2', 'group1', 'resource1'), true],
    ],
  },
  {
    source: 'rbac_test.go TestRuleMatches "star group, exact match other"',
    rule: rule('verb1', '*', 'resource1'),
    expect: [
      [res(u, 'verb1', 'group1', 'resource1'), true],
      [res(u, 'verb1', 'group2', 'resource1'), true],
      [res(u, 'verb1', 'group1', 'resource2'), false],
      [res(u, 'verb2', 'group1', 'resource1'), false],
    ],
  },
  {
    source: 'rbac_test.go TestRuleMatches "star resource, exact match other"',
    rule: rule('verb1', 'group1', '*'),
    expect: [
      [res(u, 'verb1', 'group1', 'resource1'), true],
      [res(u, 'verb1', 'group2', 'resource1'), false],
      [res(u, 'verb1', 'group1', 'resource2'), true],
      [res(u, 'verb1', 'group1', 'resource1/sub'), true],
    ],
  },
  {
    source: 'rbac_test.go TestRuleMatches "tuple expansion"',
    rule: rule('verb1,verb2', 'group1,group2', 'resource1,resource2'),
    expect: [
      [res(u, 'verb1', 'group1', 'resource1'), true],
      [res(u, 'verb2', 'group2', 'resource2'), true],
      [res(u, 'verb3', 'group1', 'resource1'), false],
      [res(u, 'verb1', 'group3', 'resource1'), false],
      [res(u, 'verb1', 'group1', 'resource3'), false],
    ],
  },
  {
    source: 'rbac_test.go TestRuleMatches "subresource expansion"',
    rule: rule('*', '*', 'resource1/subresource1'),
    expect: [
      [res(u, 'verb1', 'group1', 'resource1/subresource1'), true],
      [res(u, 'verb1', 'group1', 'resource1/subresource2'), false],
      [res(u, 'verb1', 'group1', 'resource2/subresource1'), false],
      [res(u, 'verb1', 'group1', 'resource1'), false],
    ],
  },
  {
    source: 'rbac_test.go TestRuleMatches "star nonresource, exact match other"',
    rule: rule('verb1', '', '', '*'),
    expect: [
      [nonRes(u, 'verb1', '/foo'), true],
      [nonRes(u, 'verb1', '/foo/bar/one'), true],
      [nonRes(u, 'verb2', '/foo'), false],
      [res(u, 'verb1', '', 'pods'), false],
    ],
  },
  {
    source: 'rbac_test.go TestRuleMatches "star nonresource subpath"',
    rule: rule('verb1', '', '', '/foo/*'),
    expect: [
      [nonRes(u, 'verb1', '/foo'), false],
      [nonRes(u, 'verb1', '/foo/bar'), true],
      [nonRes(u, 'verb1', '/foo/baz/one'), true],
      [nonRes(u, 'verb1', '/notfoo'), false],
      [nonRes(u, 'verb1', '/notfoo/bar'), false],
    ],
  },
  {
    source: 'rbac_test.go TestRuleMatches "star verb, exact nonresource"',
    rule: rule('*', '', '', '/foo,/foo/bar/one'),
    expect: [
      [nonRes(u, 'verb1', '/foo'), true],
      [nonRes(u, 'verb1', '/foo/bar'), false],
      [nonRes(u, 'verb1', '/foo/bar/one'), true],
      [nonRes(u, 'verb2', '/foo'), true],
    ],
  },
  {
    source: 'RBAC docs "Referring to resources": resourceNames never match requests without a name (list, watch, create, deletecollection)',
    rule: rule('get,update,list,watch,create,deletecollection', '', 'configmaps', '', 'my-configmap'),
    expect: [
      [res(u, 'get', '', 'configmaps', 'default', 'my-configmap'), true],
      [res(u, 'update', '', 'configmaps', 'default', 'my-configmap'), true],
      [res(u, 'get', '', 'configmaps', 'default', 'other'), false],
      [res(u, 'list', '', 'configmaps', 'default'), false],
      [res(u, 'watch', '', 'configmaps', 'default'), false],
      [res(u, 'create', '', 'configmaps', 'default'), false],
      [res(u, 'deletecollection', '', 'configmaps', 'default'), false],
    ],
  },
  {
    source: 'RBAC docs "Referring to resources": pods does not grant pods/log; pods/log does',
    rule: rule('get,list', '', 'pods,pods/log'),
    expect: [
      [res(u, 'get', '', 'pods/log', 'default', 'web'), true],
      [res(u, 'get', '', 'pods/exec', 'default', 'web'), false],
      [res(u, 'create', '', 'pods/exec', 'default', 'web'), false],
    ],
  },
  {
    source: 'evaluation_helpers.go ResourceMatches: */status matches any resource\'s status, never the resource itself',
    rule: rule('get', '*', '*/status'),
    expect: [
      [res(u, 'get', 'apps', 'deployments/status', 'd', 'x'), true],
      [res(u, 'get', '', 'pods/status', 'd', 'x'), true],
      [res(u, 'get', '', 'pods', 'd', 'x'), false],
      [res(u, 'get', '', 'pods/log', 'd', 'x'), false],
    ],
  },
  {
    source: 'evaluation_helpers.go: matching is case-sensitive and "" is the core group only',
    rule: rule('get', '', 'pods'),
    expect: [
      [res(u, 'GET', '', 'pods'), false],
      [res(u, 'get', '', 'Pods'), false],
      [res(u, 'get', 'apps', 'pods'), false],
    ],
  },
];

describe('rule matching (RuleAllows)', () => {
  for (const c of cases) {
    it(c.source, () => {
      for (const [a, want] of c.expect) expect([show(a), ruleAllows(a, c.rule)]).toEqual([show(a), want]);
    });
  }
});

const infoCases: [string, string, string, Record<string, unknown>][] = [
  // requestinfo_test.go TestGetAPIRequestInfo
  ['GET', '/api/v1/namespaces', '', { verb: 'list', apiGroup: '', apiVersion: 'v1', namespace: '', resource: 'namespaces' }],
  ['GET', '/api/v1/namespaces/other', '', { verb: 'get', namespace: 'other', resource: 'namespaces', name: 'other' }],
  ['GET', '/api/v1/namespaces/other/pods', '', { verb: 'list', namespace: 'other', resource: 'pods' }],
  ['GET', '/api/v1/namespaces/other/pods/foo', '', { verb: 'get', namespace: 'other', resource: 'pods', name: 'foo' }],
  ['HEAD', '/api/v1/namespaces/other/pods/foo', '', { verb: 'get', name: 'foo' }],
  ['GET', '/api/v1/pods', 'watch=true', { verb: 'watch', namespace: '', resource: 'pods' }],
  ['GET', '/api/v1/pods', 'watch=false', { verb: 'list' }],
  ['GET', '/api/v1/pods', 'watch=0', { verb: 'list' }],
  ['GET', '/api/v1/watch/pods', '', { verb: 'watch', resource: 'pods' }],
  ['GET', '/api/v1/watch/namespaces/other/pods', '', { verb: 'watch', namespace: 'other', resource: 'pods' }],
  ['GET', '/api/v1/namespaces/other/pods', 'fieldSelector=metadata.name%3Dfoo&watch=1', { verb: 'watch', name: 'foo' }],
  ['POST', '/api/v1/namespaces/other/pods', '', { verb: 'create', resource: 'pods' }],
  ['PUT', '/api/v1/namespaces/other/pods/foo', '', { verb: 'update', name: 'foo' }],
  ['PATCH', '/api/v1/namespaces/other/pods/foo', '', { verb: 'patch', name: 'foo' }],
  ['DELETE', '/api/v1/namespaces/other/pods/foo', '', { verb: 'delete', name: 'foo' }],
  ['DELETE', '/api/v1/namespaces/other/pods', '', { verb: 'deletecollection', resource: 'pods' }],
  ['GET', '/api/v1/namespaces/other/pods/foo/log', '', { verb: 'get', resource: 'pods', subresource: 'log', name: 'foo' }],
  ['POST', '/api/v1/namespaces/other/pods/foo/exec', '', { verb: 'create', subresource: 'exec' }],
  ['GET', '/api/v1/namespaces/other/pods/foo/exec', '', { verb: 'get', subresource: 'exec' }],
  ['PUT', '/api/v1/namespaces/other/finalize', '', { verb: 'update', namespace: 'other', resource: 'namespaces', name: 'other', subresource: 'finalize' }],
  ['GET', '/apis/apps/v1/namespaces/other/deployments/web/scale', '', { verb: 'get', apiGroup: 'apps', apiVersion: 'v1', resource: 'deployments', name: 'web', subresource: 'scale' }],
  ['GET', '/apis/extensions/v1beta1/namespaces/other/replicasets', '', { verb: 'list', apiGroup: 'extensions', resource: 'replicasets' }],
];

const nonResourceCases: [string, string][] = [
  ['GET', '/healthz'],
  ['GET', '/'],
  ['GET', '/api'],
  ['GET', '/api/v1'],
  ['GET', '/apis'],
  ['GET', '/apis/apps'],
  ['GET', '/apis/apps/v1'],
  ['GET', '/openapi/v3'],
  ['POST', '/metrics'],
];

describe('request info (RequestInfoFactory)', () => {
  for (const [method, path, query, want] of infoCases) {
    it(`${method} ${path}${query ? `?${query}` : ''} (requestinfo_test.go)`, () => {
      expect(requestInfo(method, path, new URLSearchParams(query))).toMatchObject({ resourceRequest: true, ...want });
    });
  }
  it('non-resource paths keep the lower-cased HTTP method as verb (requestinfo_test.go TestGetNonAPIRequestInfo)', () => {
    for (const [method, path] of nonResourceCases) expect(requestInfo(method, path, new URLSearchParams())).toEqual({ resourceRequest: false, path, verb: method.toLowerCase() });
  });
  it('attributes from a raw URL with its query (what the authorizer and an audit record see)', () => {
    const u = user('u');
    expect(requestAttributes('GET', '/apis/apps/v1/namespaces/shop/deployments?watch=1&fieldSelector=metadata.name%3Dweb', u)).toEqual({ user: u, verb: 'watch', resourceRequest: true, apiGroup: 'apps', apiVersion: 'v1', resource: 'deployments', subresource: '', namespace: 'shop', name: 'web' });
    expect(requestAttributes('GET', '/version?timeout=32s', u)).toEqual({ user: u, verb: 'get', resourceRequest: false, path: '/version' });
  });
});
