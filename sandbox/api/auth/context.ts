/**
 * The authenticated user of each in-flight request. The authentication filter
 * sets it once; authorization, admission, reviews and the audit read it.
 */
import type { IncomingMessage } from 'node:http';
import type { UserInfo } from './types.ts';

/** The identity of the admin kubeconfig: Kubernetes' superuser group, allowed everything before RBAC is asked. */
export const SANDBOX_ADMIN: UserInfo = Object.freeze({
  username: 'kubernetes-admin',
  groups: ['kubeadm:cluster-admins', 'system:masters', 'system:authenticated'],
}) as UserInfo;

const users = new WeakMap<IncomingMessage, UserInfo>();

export function setRequestUser(req: IncomingMessage, user: UserInfo): void {
  users.set(req, user);
}

/** The request's user; a server without an authenticator treats every caller as the admin. */
export function requestUser(req: IncomingMessage): UserInfo {
  return users.get(req) ?? SANDBOX_ADMIN;
}
