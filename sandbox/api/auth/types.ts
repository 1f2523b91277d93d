/**
 * The seam between authentication, authorization and the API server's handlers,
 * shaped like Kubernetes' `user.Info` and `authorizer.Attributes` so the rules
 * that read them can be written (and tested) exactly as Kubernetes states them.
 */

/** Who is asking: what an authenticator returns and what the authorizer and the audit see. */
export interface UserInfo {
  username: string;
  uid?: string;
  groups: string[];
  extra?: Record<string, string[]>;
}

/** One request as the authorizer sees it (Kubernetes' `authorizer.Attributes`). */
export interface Attributes {
  user: UserInfo;
  /** get, list, watch, create, update, patch, delete, deletecollection, or a special verb (impersonate, bind, escalate, use). For non-resource requests, the lower-cased HTTP method. */
  verb: string;
  resourceRequest: boolean;
  /** Non-resource requests: the URL path (`/healthz`, `/metrics`). */
  path?: string;
  apiGroup?: string;
  apiVersion?: string;
  resource?: string;
  subresource?: string;
  namespace?: string;
  name?: string;
}

/** "no-opinion" is not a denial: the next authorizer may still allow (as in Kubernetes' union authorizer). */
export type DecisionKind = 'allow' | 'deny' | 'no-opinion';

export interface Decision {
  decision: DecisionKind;
  /** Why: the binding and role that allowed, or why nothing did. */
  reason: string;
}

export interface Authorizer {
  authorize(attrs: Attributes): Decision;
}
