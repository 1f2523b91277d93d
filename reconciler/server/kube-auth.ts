import { createHash } from 'node:crypto';
import { API_GROUP, type Access } from './access.ts';

/** A caller the cluster vouched for (TokenReview status.user). */
export interface KubeUser {
  username: string;
  uid?: string;
  groups: string[];
  extra?: Record<string, string[]>;
}

export interface Verdict {
  allowed: boolean;
  /** The authorizer's words (SubjectAccessReview status.reason / evaluationError), when it gave any. */
  reason?: string;
}

/** How the reviews reach the API server: `KubeClient.request`, bound. */
export type KubeRequest = <T>(method: string, path: string, opts: { body: unknown }) => Promise<T>;

export interface KubeIdentitiesOptions {
  request: KubeRequest;
  /**
   * Audiences a token must be meant for (`coffer run --api-audience`): sent as TokenReview spec.audiences and checked
   * in status.audiences (`audienceError`); default: the API server's own.
   */
  audiences?: string[];
  /** How long answers are reused (default 10 s): revoking a token or a RoleBinding takes effect within it. */
  ttlMs?: number;
  now?: () => number;
  /** Most answers kept per cache (oldest dropped first). */
  maxEntries?: number;
}

/** The cluster refused or failed a review (Coffer's ServiceAccount lacks `create` on it, the API is down). */
export class KubeReviewError extends Error {
  readonly code = 'E_API_REVIEW';
}

interface TokenReviewStatus {
  authenticated?: boolean;
  user?: KubeUser;
  audiences?: string[];
  error?: string;
}

/**
 * Whether a TokenReview's answer holds for the audiences Coffer asked about, as the TokenReview API documents it: a
 * client that sets spec.audiences must find one of them in status.audiences; an authenticated answer with none means
 * the token is only valid for the API server's own audience (an authenticator that is not audience-aware), so it is
 * refused. Without asked audiences the API server's default applies and any authenticated answer holds. Pure.
 */
export function audienceError(asked: readonly string[] | undefined, status: Pick<TokenReviewStatus, 'authenticated' | 'audiences'>): string | undefined {
  if (!asked?.length || !status.authenticated) return undefined;
  const got = status.audiences ?? [];
  if (got.some((a) => asked.includes(a))) return undefined;
  return got.length
    ? `the token is meant for ${got.map((a) => JSON.stringify(a)).join(', ')}, not for this API (--api-audience ${asked.join(', ')})`
    : `the cluster's TokenReview named no audience in its answer: the token is valid for the Kubernetes API server only, not for this API (--api-audience ${asked.join(', ')})`;
}

/**
 * Kubernetes identities for `/api/v1/`, as kube-rbac-proxy and the aggregated API servers get them: a bearer token is
 * sent to TokenReview (who is this?), each call to SubjectAccessReview (may they?). Answers are cached briefly — the
 * token under its SHA-256, never the token itself — so a dashboard polling every few seconds costs the API server
 * one review per TTL, not one per request. Transport failures are not cached and surface as KubeReviewError (503).
 */
export class KubeIdentities {
  private readonly tokens: TtlCache<TokenReviewStatus>;
  private readonly verdicts: TtlCache<Verdict>;

  constructor(private readonly o: KubeIdentitiesOptions) {
    const ttl = o.ttlMs ?? 10_000;
    const now = o.now ?? Date.now;
    this.tokens = new TtlCache(ttl, now, o.maxEntries ?? 1000);
    this.verdicts = new TtlCache(ttl, now, o.maxEntries ?? 1000);
  }

  /** The user the cluster says `token` belongs to, or undefined with the cluster's reason when it does not authenticate. */
  async authenticate(token: string): Promise<{ user?: KubeUser; error?: string }> {
    const key = createHash('sha256').update(token).digest('base64url');
    let status = this.tokens.get(key);
    if (!status) {
      const review = await this.review<{ status?: TokenReviewStatus }>('/apis/authentication.k8s.io/v1/tokenreviews', {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenReview',
        spec: { token, ...(this.o.audiences?.length ? { audiences: this.o.audiences } : {}) },
      });
      status = review.status ?? {};
      const wrongAudience = audienceError(this.o.audiences, status);
      if (wrongAudience) status = { authenticated: false, error: wrongAudience };
      this.tokens.set(key, status);
    }
    if (!status.authenticated || !status.user?.username) return { error: status.error || 'the cluster did not authenticate the token' };
    return { user: { username: status.user.username, groups: status.user.groups ?? [], ...(status.user.uid ? { uid: status.user.uid } : {}), ...(status.user.extra ? { extra: status.user.extra } : {}) } };
  }

  /** SubjectAccessReview of `a` (group coffer.dev) for `user`. */
  async authorize(user: KubeUser, a: Access): Promise<Verdict> {
    const resourceAttributes = { group: API_GROUP, resource: a.resource, verb: a.verb, ...(a.subresource ? { subresource: a.subresource } : {}), ...(a.namespace ? { namespace: a.namespace } : {}), ...(a.name ? { name: a.name } : {}) };
    const key = JSON.stringify([user.username, user.uid ?? '', [...user.groups].sort(), user.extra ?? {}, resourceAttributes]);
    const cached = this.verdicts.get(key);
    if (cached) return cached;
    const review = await this.review<{ status?: { allowed?: boolean; reason?: string; evaluationError?: string } }>('/apis/authorization.k8s.io/v1/subjectaccessreviews', {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: { user: user.username, groups: user.groups, ...(user.uid ? { uid: user.uid } : {}), ...(user.extra ? { extra: user.extra } : {}), resourceAttributes },
    });
    const reason = review.status?.reason || review.status?.evaluationError;
    const verdict: Verdict = { allowed: review.status?.allowed === true, ...(reason ? { reason } : {}) };
    this.verdicts.set(key, verdict);
    return verdict;
  }

  private async review<T>(path: string, body: unknown): Promise<T> {
    try {
      return await this.o.request<T>('POST', path, { body });
    } catch (e) {
      throw new KubeReviewError(`cannot check the caller with the cluster: ${(e as Error).message}`);
    }
  }
}

/** A small map whose entries expire after `ttlMs` and whose size is bounded (insertion order = eviction order). */
class TtlCache<V> {
  private readonly m = new Map<string, { v: V; until: number }>();
  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number,
    private readonly max: number,
  ) {}

  get(k: string): V | undefined {
    const e = this.m.get(k);
    if (!e) return undefined;
    if (e.until > this.now()) return e.v;
    this.m.delete(k);
    return undefined;
  }

  set(k: string, v: V): void {
    this.m.delete(k);
    if (this.m.size >= this.max) this.m.delete(this.m.keys().next().value!);
    this.m.set(k, { v, until: this.now() + this.ttlMs });
  }
}
