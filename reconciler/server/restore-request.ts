import { compileCel } from '../../compiler/cel/index.ts';
import { EXISTING_POLICIES, type ExistingPolicy } from '../restore/execute.ts';
import { parseBefore } from '../restore/select.ts';

/** The body of `POST /api/v1/restores`: `coffer restore`'s flags as JSON (camelCase, no file paths). */
export interface RestoreApiRequest {
  /** A restore point name, or `latest`. */
  restorePoint: string;
  namespace?: string;
  policy?: string;
  /** Newest restore point taken at or before this instant (RFC 3339); `restorePoint` must then be `latest`. */
  before?: string;
  /** Cluster whose catalog holds the restore point (default: the repository's cluster). */
  fromCluster?: string;
  namespaceMapping?: Record<string, string>;
  include?: string;
  exclude?: string;
  /** TransformSet names from the plan (never files: the API does not read the server's filesystem for a client). */
  transforms?: string[];
  existing?: ExistingPolicy;
  wait?: boolean;
  /** For `wait` and restore hooks, e.g. `5m` (default 5m). */
  timeout?: string;
  volumes?: boolean;
  hooks?: boolean;
  dryRun?: boolean;
}

/** A request body the API refuses; the message starts with the field it is about. */
export class RestoreBodyError extends Error {
  readonly code = 'E_API_BODY';
  readonly status = 400;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const FIELDS = ['restorePoint', 'namespace', 'policy', 'before', 'fromCluster', 'namespaceMapping', 'include', 'exclude', 'transforms', 'existing', 'wait', 'timeout', 'volumes', 'hooks', 'dryRun'] as const;

function fail(field: string, message: string): never {
  throw new RestoreBodyError(`${field}: ${message}`);
}

function str(body: Record<string, unknown>, field: string, pattern?: RegExp, what = 'a name'): string | undefined {
  const v = body[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || !v.trim()) fail(field, 'expected a non-empty string');
  if (pattern && (v.length > 253 || !pattern.test(v))) fail(field, `"${v}" is not ${what}`);
  return v;
}

function bool(body: Record<string, unknown>, field: string): boolean | undefined {
  const v = body[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') fail(field, 'expected true or false');
  return v;
}

/** `90s`, `5m`, `1h` → milliseconds (the CLI's --timeout syntax), at most a day. */
export function parseTimeout(s: string, field = 'timeout'): number {
  const m = /^(\d+)(s|m|h)$/.exec(s.trim());
  if (!m) fail(field, `"${s}": expected a duration such as 90s, 5m or 1h`);
  const ms = Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 's' | 'm' | 'h'];
  if (ms < 1000 || ms > 86_400_000) fail(field, `"${s}": expected between 1s and 24h`);
  return ms;
}

/**
 * Validates a restore request body completely before anything runs, so a typo is a 400 naming the field — never a
 * failed job: unknown fields are refused (like kubectl's strict field validation), names must be Kubernetes names,
 * CEL is compiled and type-checked, and TransformSets must exist in the current plan.
 */
export function parseRestoreBody(body: unknown, transformSets: readonly string[]): RestoreApiRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) fail('body', 'expected a JSON object such as {"restorePoint": "latest", "namespace": "shop", "dryRun": true}');
  const b = body as Record<string, unknown>;
  for (const k of Object.keys(b)) if (!(FIELDS as readonly string[]).includes(k)) fail(k, `unknown field (known: ${FIELDS.join(', ')})`);
  const restorePoint = str(b, 'restorePoint', NAME, 'a restore point name or "latest"');
  if (!restorePoint) fail('restorePoint', 'required: a restore point name, or "latest" with "namespace"');
  const out: RestoreApiRequest = { restorePoint };
  const namespace = str(b, 'namespace', DNS_LABEL, 'a namespace name');
  if (namespace) out.namespace = namespace;
  const policy = str(b, 'policy', NAME, 'a policy name');
  if (policy) out.policy = policy;
  const fromCluster = str(b, 'fromCluster', NAME, 'a cluster name');
  if (fromCluster) out.fromCluster = fromCluster;
  const before = str(b, 'before');
  if (before) {
    try {
      parseBefore(before);
    } catch (e) {
      fail('before', (e as Error).message.replace(/^--before /, ''));
    }
    if (restorePoint !== 'latest') fail('before', 'only with "restorePoint": "latest"');
    out.before = before;
  }
  if (b.namespaceMapping !== undefined && b.namespaceMapping !== null) {
    const m = b.namespaceMapping;
    if (typeof m !== 'object' || Array.isArray(m)) fail('namespaceMapping', 'expected an object such as {"shop": "shop-copy"}');
    const mapping: Record<string, string> = {};
    for (const [from, to] of Object.entries(m as Record<string, unknown>)) {
      if (from.length > 63 || !DNS_LABEL.test(from)) fail(`namespaceMapping.${from}`, `"${from}" is not a namespace name`);
      if (typeof to !== 'string' || to.length > 63 || !DNS_LABEL.test(to)) fail(`namespaceMapping.${from}`, `${JSON.stringify(to)} is not a namespace name`);
      mapping[from] = to;
    }
    if (Object.keys(mapping).length) out.namespaceMapping = mapping;
  }
  for (const field of ['include', 'exclude'] as const) {
    const src = str(b, field);
    if (!src) continue;
    try {
      compileCel(src, 'object', { expect: 'bool' });
    } catch (e) {
      fail(field, (e as Error).message);
    }
    out[field] = src;
  }
  if (b.transforms !== undefined && b.transforms !== null) {
    if (!Array.isArray(b.transforms)) fail('transforms', 'expected an array of TransformSet names');
    b.transforms.forEach((t, i) => {
      if (typeof t !== 'string') fail(`transforms[${i}]`, 'expected a TransformSet name');
      if (!transformSets.includes(t)) fail(`transforms[${i}]`, `no TransformSet "${t}" in the plan (have: ${transformSets.join(', ') || 'none'})`);
    });
    if (b.transforms.length) out.transforms = b.transforms as string[];
  }
  const existing = str(b, 'existing');
  if (existing) {
    if (!(EXISTING_POLICIES as readonly string[]).includes(existing)) fail('existing', `"${existing}": expected skip, update or recreate`);
    out.existing = existing as ExistingPolicy;
  }
  const timeout = str(b, 'timeout');
  if (timeout) {
    parseTimeout(timeout);
    out.timeout = timeout;
  }
  for (const field of ['wait', 'volumes', 'hooks', 'dryRun'] as const) {
    const v = bool(b, field);
    if (v !== undefined) out[field] = v;
  }
  if (out.dryRun && out.wait) fail('wait', 'a dry run changes nothing, so there is nothing to wait for');
  return out;
}
