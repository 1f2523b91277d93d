import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

export const PROVIDERS = ['github', 'gitlab', 'gitea', 'generic'] as const;
export type Provider = (typeof PROVIDERS)[number];

/** Equal-length digests compared in constant time; different inputs never short-circuit on the first differing byte. */
export function constantTimeEqual(a: string | Buffer, b: string | Buffer): boolean {
  const da = createHash('sha256').update(a).digest();
  const db = createHash('sha256').update(b).digest();
  return timingSafeEqual(da, db) && Buffer.byteLength(a) === Buffer.byteLength(b);
}

function header(h: IncomingHttpHeaders, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

const hmacHex = (secret: string, body: Buffer) => createHmac('sha256', secret).update(body).digest('hex');

/** Webhook secrets shorter than this are refused at start-up: the HMAC is only as strong as the secret. */
export const MIN_SECRET_LENGTH = 16;

/** How far a generic delivery's `X-Coffer-Timestamp` may be from our clock (either way) before it is refused. */
export const TIMESTAMP_TOLERANCE_MS = 5 * 60_000;

/**
 * Checks a delivery the way its provider signs it: GitHub `X-Hub-Signature-256: sha256=<HMAC-SHA256 hex>`, Gitea and
 * Forgejo `X-Gitea-Signature: <HMAC-SHA256 hex>`, GitLab `X-Gitlab-Token: <secret>`, and Coffer's generic
 * `X-Coffer-Signature: sha256=<HMAC-SHA256 hex of "<X-Coffer-Timestamp>.<body>">` (signing the timestamp bounds how
 * long a captured request can be replayed; any CI can sign with `openssl dgst -sha256 -hmac`). Every comparison is
 * constant-time; a missing header fails.
 */
export function verifyDelivery(provider: Provider, headers: IncomingHttpHeaders, body: Buffer, secret: string): boolean {
  if (!secret) return false;
  switch (provider) {
    case 'github': {
      const sig = header(headers, 'x-hub-signature-256');
      return !!sig && constantTimeEqual(sig.trim().toLowerCase(), `sha256=${hmacHex(secret, body)}`);
    }
    case 'gitea': {
      const sig = header(headers, 'x-gitea-signature') ?? header(headers, 'x-forgejo-signature');
      return !!sig && constantTimeEqual(sig.trim().toLowerCase(), hmacHex(secret, body));
    }
    case 'gitlab': {
      const token = header(headers, 'x-gitlab-token');
      return token !== undefined && constantTimeEqual(token, secret);
    }
    case 'generic': {
      const sig = header(headers, 'x-coffer-signature');
      const ts = header(headers, 'x-coffer-timestamp');
      if (!sig || !ts) return false;
      const signed = Buffer.concat([Buffer.from(`${ts}.`), body]);
      return constantTimeEqual(sig.trim().toLowerCase(), `sha256=${hmacHex(secret, signed)}`);
    }
  }
}

export type DeliveryId = { ok: true; id: string } | { ok: false; status: number; reason: string };

/**
 * The name under which an authenticated delivery is remembered against replays: the provider's delivery id, or for
 * the generic hook its signature once the signed timestamp is within the tolerance. A delivery without one is refused
 * (every provider Coffer supports sends it), so replay protection cannot be side-stepped by dropping a header.
 */
export function deliveryId(provider: Provider, headers: IncomingHttpHeaders, nowMs: number): DeliveryId {
  const named = (h: string) => {
    const v = header(headers, h)?.trim();
    return v ? { ok: true as const, id: `${provider}:${v}` } : { ok: false as const, status: 400, reason: `missing ${h} header (needed to refuse replayed deliveries)` };
  };
  switch (provider) {
    case 'github':
      return named('x-github-delivery');
    case 'gitlab':
      return named('x-gitlab-event-uuid');
    case 'gitea':
      return header(headers, 'x-forgejo-delivery') && !header(headers, 'x-gitea-delivery') ? named('x-forgejo-delivery') : named('x-gitea-delivery');
    case 'generic': {
      const ts = header(headers, 'x-coffer-timestamp') ?? '';
      const at = /^\d{1,12}$/.test(ts) ? Number(ts) * 1000 : NaN;
      if (!Number.isFinite(at)) return { ok: false, status: 400, reason: 'X-Coffer-Timestamp must be Unix seconds' };
      if (Math.abs(nowMs - at) > TIMESTAMP_TOLERANCE_MS) return { ok: false, status: 401, reason: `X-Coffer-Timestamp is ${Math.round((nowMs - at) / 1000)} s from the server's clock (tolerance ±${TIMESTAMP_TOLERANCE_MS / 1000} s)` };
      return { ok: true, id: `generic:${header(headers, 'x-coffer-signature')!.trim().toLowerCase()}` };
    }
  }
}

export type DeliveryDecision =
  | { trigger: true; ref: string; commit?: string; pusher?: string }
  | { trigger: false; status: number; reason: string };

/**
 * Whether an authenticated delivery asks for a reconcile: only a push (GitHub `push`, GitLab `Push Hook`, Gitea
 * `push`) to the watched branch does; pings, tags, other branches and other events are acknowledged and ignored.
 * The generic hook triggers on `{"ref": "refs/heads/<branch>"}` or on an empty object (an explicit "sync now").
 * `branch` "" (not learnt yet) lets a push to any branch trigger.
 */
export function decideDelivery(provider: Provider, headers: IncomingHttpHeaders, body: Buffer, branch: string): DeliveryDecision {
  const event = provider === 'github' ? header(headers, 'x-github-event') : provider === 'gitlab' ? header(headers, 'x-gitlab-event') : provider === 'gitea' ? (header(headers, 'x-gitea-event') ?? header(headers, 'x-forgejo-event')) : 'push';
  if (provider === 'github' && event === 'ping') return { trigger: false, status: 200, reason: 'pong' };
  const isPush = provider === 'gitlab' ? event === 'Push Hook' : event === 'push';
  if (!isPush) return { trigger: false, status: 202, reason: `ignored ${event ?? 'unknown'} event: only pushes trigger a reconcile` };
  let payload: { ref?: unknown; after?: unknown; checkout_sha?: unknown; pusher?: { name?: unknown; login?: unknown }; user_username?: unknown };
  try {
    payload = body.length ? (JSON.parse(body.toString('utf8')) as typeof payload) : {};
  } catch {
    return { trigger: false, status: 400, reason: 'body is not JSON' };
  }
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return { trigger: false, status: 400, reason: 'body is not a JSON object' };
  const want = `refs/heads/${branch}`;
  if (provider === 'generic' && payload.ref === undefined) return { trigger: true, ref: want };
  if (typeof payload.ref !== 'string') return { trigger: false, status: 400, reason: 'push without a ref' };
  // "" = the policy branch is not known yet (a remote's default branch is learnt on the first fetch): any branch may be it.
  if (branch ? payload.ref !== want : !payload.ref.startsWith('refs/heads/')) return { trigger: false, status: 202, reason: `ignored push to ${payload.ref}: watching ${want}` };
  const commit = typeof payload.after === 'string' ? payload.after : typeof payload.checkout_sha === 'string' ? payload.checkout_sha : undefined;
  const pusher = [payload.pusher?.login, payload.pusher?.name, payload.user_username].find((x): x is string => typeof x === 'string');
  return { trigger: true, ref: payload.ref, ...(commit ? { commit } : {}), ...(pusher ? { pusher } : {}) };
}
