/**
 * Defaulting and validation of Roles, ClusterRoles and their bindings as the
 * API server does them (pkg/apis/rbac/v1/defaults.go, pkg/apis/rbac/validation),
 * with the same field paths and texts. Names were checked before (path-segment
 * names: `system:foo` is valid).
 */
import { fieldInvalid, fieldNotSupported, fieldRequired, type FieldError } from '../errors.ts';
import { isObject } from '../object.ts';
import { RBAC_GROUP } from './types.ts';

type Rec = Record<string, unknown>;
const rec = (v: unknown): Rec => (isObject(v) ? v : {});
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : []);

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const SUBDOMAIN_MSG = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

/** roleRef.apiGroup and the apiGroup of User and Group subjects default to rbac.authorization.k8s.io. */
export function rbacDefaults(kind: string, obj: Rec): void {
  if (kind !== 'RoleBinding' && kind !== 'ClusterRoleBinding') return;
  if (isObject(obj.roleRef) && !obj.roleRef.apiGroup) obj.roleRef.apiGroup = RBAC_GROUP;
  for (const s of Array.isArray(obj.subjects) ? obj.subjects : []) {
    if (isObject(s) && !s.apiGroup && (s.kind === 'User' || s.kind === 'Group')) s.apiGroup = RBAC_GROUP;
  }
}

function pathSegmentErrors(name: string): string[] {
  if (name === '.' || name === '..') return [`may not be '${name}'`];
  const out: string[] = [];
  if (name.includes('/')) out.push("may not contain '/'");
  if (name.includes('%')) out.push("may not contain '%'");
  return out;
}

const RULE_LISTS = ['verbs', 'apiGroups', 'resources', 'resourceNames', 'nonResourceURLs'];

function validateRule(rule: Rec, namespaced: boolean, path: string): FieldError[] {
  // A list of the wrong type fails decoding first (400), as in Go; the schema check reports it.
  if (RULE_LISTS.some((k) => rule[k] != null && !Array.isArray(rule[k]))) return [];
  const errs: FieldError[] = [];
  const verbs = strings(rule.verbs);
  const urls = strings(rule.nonResourceURLs);
  if (!verbs.length) errs.push(fieldRequired(`${path}.verbs`, 'verbs must contain at least one value'));
  if (urls.length) {
    if (namespaced) errs.push(fieldInvalid(`${path}.nonResourceURLs`, urls, 'namespaced rules cannot apply to non-resource URLs'));
    if (strings(rule.apiGroups).length || strings(rule.resources).length || strings(rule.resourceNames).length)
      errs.push(fieldInvalid(`${path}.nonResourceURLs`, urls, 'rules cannot apply to both regular resources and non-resource URLs'));
    return errs;
  }
  if (!strings(rule.apiGroups).length) errs.push(fieldRequired(`${path}.apiGroups`, 'resource rules must supply at least one api group'));
  if (!strings(rule.resources).length) errs.push(fieldRequired(`${path}.resources`, 'resource rules must supply at least one resource'));
  if (strings(rule.resourceNames).length && strings(rule.resources).length > 1) errs.push(fieldRequired(`${path}.resourceNames`, 'resource names cannot apply to multiple resources'));
  return errs;
}

function validateSubject(s: Rec, namespaced: boolean, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const name = String(s.name ?? '');
  const apiGroup = String(s.apiGroup ?? '');
  if (!name) errs.push(fieldRequired(`${path}.name`));
  switch (s.kind) {
    case 'ServiceAccount':
      if (name && (name.length > 253 || !DNS_SUBDOMAIN.test(name))) errs.push(fieldInvalid(`${path}.name`, name, SUBDOMAIN_MSG));
      if (apiGroup) errs.push(fieldNotSupported(`${path}.apiGroup`, apiGroup, ['']));
      if (!namespaced && !s.namespace) errs.push(fieldRequired(`${path}.namespace`));
      break;
    case 'User':
    case 'Group':
      if (!name) errs.push(fieldInvalid(`${path}.name`, name, `${s.kind === 'User' ? 'user' : 'group'} name cannot be empty`));
      if (apiGroup !== RBAC_GROUP) errs.push(fieldNotSupported(`${path}.apiGroup`, apiGroup, [RBAC_GROUP]));
      break;
    default:
      errs.push(fieldNotSupported(`${path}.kind`, String(s.kind ?? ''), ['ServiceAccount', 'User', 'Group']));
  }
  return errs;
}

/** Go's `%#v` of an rbac.RoleRef, as `cannot change roleRef` prints it. */
function roleRefGo(r: Rec): string {
  return `rbac.RoleRef{APIGroup:${JSON.stringify(String(r.apiGroup ?? ''))}, Kind:${JSON.stringify(String(r.kind ?? ''))}, Name:${JSON.stringify(String(r.name ?? ''))}}`;
}

/** Field errors of a Role, ClusterRole, RoleBinding or ClusterRoleBinding (`old` on update). */
export function validateRbac(kind: string, obj: Rec, old?: Rec): FieldError[] {
  const errs: FieldError[] = [];
  if (kind === 'Role' || kind === 'ClusterRole') {
    const rules = Array.isArray(obj.rules) ? obj.rules : [];
    rules.forEach((r, i) => errs.push(...validateRule(rec(r), kind === 'Role', `rules[${i}]`)));
    return errs;
  }
  if (kind !== 'RoleBinding' && kind !== 'ClusterRoleBinding') return errs;
  const ref = rec(obj.roleRef);
  const apiGroup = String(ref.apiGroup ?? '');
  const refKind = String(ref.kind ?? '');
  const refName = String(ref.name ?? '');
  if (apiGroup !== RBAC_GROUP) errs.push(fieldNotSupported('roleRef.apiGroup', apiGroup, [RBAC_GROUP]));
  const kinds = kind === 'RoleBinding' ? ['Role', 'ClusterRole'] : ['ClusterRole'];
  if (!kinds.includes(refKind)) errs.push(fieldNotSupported('roleRef.kind', refKind, kinds));
  if (!refName) errs.push(fieldRequired('roleRef.name'));
  else for (const m of pathSegmentErrors(refName)) errs.push(fieldInvalid('roleRef.name', refName, m));
  const subjects = Array.isArray(obj.subjects) ? obj.subjects : [];
  subjects.forEach((s, i) => errs.push(...validateSubject(rec(s), kind === 'RoleBinding', `subjects[${i}]`)));
  if (old && roleRefGo(rec(old.roleRef)) !== roleRefGo(ref)) errs.push({ type: 'FieldValueInvalid', field: 'roleRef', message: `Invalid value: ${roleRefGo(ref)}: cannot change roleRef` });
  return errs;
}
