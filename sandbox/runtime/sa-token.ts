/**
 * Projected ServiceAccount tokens, the kubelet's way: each `serviceAccountToken`
 * source is a TokenRequest bound to the Pod, and a volume holding one is
 * written with the atomic-writer layout (`..<timestamp>/` files, a `..data`
 * symlink swapped by rename, top-level symlinks into it), so it can be
 * re-written under a running container's bind mount. The token is refreshed
 * at 80% of its life (or after 24 h), as the kubelet's token manager does.
 */
import { chmod, lstat, mkdir, readdir, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { KubeObject } from '../controllers/client.ts';

export interface FileEntry {
  path: string;
  data: Buffer;
  mode: number;
  /** Epoch ms after which the content must be rendered again (tokens). */
  refreshAt?: number;
}

export interface TokenApi {
  post(path: string, body: unknown): Promise<any>;
}

export interface TokenSourceSpec {
  audience?: string;
  expirationSeconds?: number;
  path: string;
}

const DAY_MS = 86_400_000;
const RETRY_MS = 10_000;

/** When the kubelet asks for a new token: 80% into its life, but at least daily. */
export function refreshAt(issuedAt: number, expiresAt: number): number {
  return issuedAt + Math.min(0.8 * (expiresAt - issuedAt), DAY_MS);
}

function timestampDir(now: number): string {
  const d = new Date(now);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `..${d.getUTCFullYear()}_${p(d.getUTCMonth() + 1)}_${p(d.getUTCDate())}_${p(d.getUTCHours())}_${p(d.getUTCMinutes())}_${p(d.getUTCSeconds())}.${p(d.getUTCMilliseconds(), 3)}${Math.floor(Math.random() * 1e6)}`;
}

/**
 * Replaces the volume's content in one step for readers: the new files go in
 * a fresh `..<timestamp>` directory, `..data` is re-pointed with a rename, and
 * each top-level name is a symlink through `..data`.
 */
export async function writeAtomic(dir: string, files: FileEntry[], now = Date.now()): Promise<void> {
  await mkdir(dir, { recursive: true });
  const ts = timestampDir(now);
  const tsDir = path.join(dir, ts);
  await mkdir(tsDir);
  const top = new Set<string>();
  for (const f of files) {
    const rel = path.normalize(f.path).replace(/^(\.\.(\/|$))+/, '');
    if (!rel || rel.startsWith('..')) continue;
    const target = path.join(tsDir, rel);
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(target, f.data);
    await chmod(target, f.mode);
    top.add(rel.split('/')[0]!);
  }
  const old = await readlink(path.join(dir, '..data')).catch(() => undefined);
  const tmpLink = path.join(dir, '..data_tmp');
  await rm(tmpLink, { force: true });
  await symlink(ts, tmpLink);
  await rename(tmpLink, path.join(dir, '..data'));
  for (const name of top) {
    const link = path.join(dir, name);
    const st = await lstat(link).catch(() => undefined);
    if (st?.isSymbolicLink()) continue;
    if (st) await rm(link, { recursive: true, force: true });
    await symlink(path.join('..data', name), link);
  }
  // Names that are no longer projected, and the previous generation.
  for (const entry of await readdir(dir)) {
    if (entry.startsWith('..') || top.has(entry)) continue;
    await rm(path.join(dir, entry), { recursive: true, force: true });
  }
  if (old && old !== ts) await rm(path.join(dir, old), { recursive: true, force: true });
}

export interface ProjectedTokensOptions {
  log?: (line: string) => void;
  now?: () => number;
  /** Timer (injectable so tests can fire a refresh without waiting 48 minutes). */
  schedule?: (ms: number, fn: () => void) => { cancel(): void };
}

/** The token manager of one Pod: requests its tokens and keeps the volumes that carry them fresh. */
export class ProjectedTokens {
  private readonly timers = new Map<string, { cancel(): void }>();
  private stopped = false;
  private readonly log: (line: string) => void;
  private readonly now: () => number;
  private readonly schedule: (ms: number, fn: () => void) => { cancel(): void };

  constructor(
    private readonly api: TokenApi,
    opts: ProjectedTokensOptions = {},
  ) {
    this.log = opts.log ?? (() => {});
    this.now = opts.now ?? Date.now;
    this.schedule =
      opts.schedule ??
      ((ms, fn) => {
        const t = setTimeout(fn, ms);
        t.unref?.();
        return { cancel: () => clearTimeout(t) };
      });
  }

  /** A TokenRequest for the Pod's ServiceAccount, bound to the Pod (deleting the Pod invalidates it). */
  async token(pod: KubeObject, src: TokenSourceSpec, mode: number): Promise<FileEntry> {
    const ns = pod.metadata.namespace!;
    const sa = pod.spec?.serviceAccountName || 'default';
    const issuedAt = this.now();
    const tr = await this.api.post(`/api/v1/namespaces/${encodeURIComponent(ns)}/serviceaccounts/${encodeURIComponent(sa)}/token`, {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: {
        audiences: src.audience ? [src.audience] : [],
        expirationSeconds: src.expirationSeconds ?? 3600,
        boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.metadata.name, uid: pod.metadata.uid },
      },
    });
    const expiresAt = Date.parse(tr?.status?.expirationTimestamp);
    if (typeof tr?.status?.token !== 'string' || !Number.isFinite(expiresAt)) throw new Error(`TokenRequest for ${ns}/${sa} returned no token`);
    return { path: src.path, data: Buffer.from(tr.status.token), mode, refreshAt: refreshAt(issuedAt, expiresAt) };
  }

  /** Writes `dir` now and again before its earliest `refreshAt`, until stop(). */
  async keep(dir: string, files: FileEntry[], render: () => Promise<FileEntry[]>): Promise<void> {
    await writeAtomic(dir, files, this.now());
    this.arm(dir, files, render);
  }

  private arm(dir: string, files: FileEntry[], render: () => Promise<FileEntry[]>, retry = false): void {
    if (this.stopped) return;
    const due = Math.min(...files.map((f) => f.refreshAt ?? Infinity));
    if (!Number.isFinite(due) && !retry) return;
    const ms = retry ? RETRY_MS : Math.max(0, due - this.now());
    this.timers.get(dir)?.cancel();
    this.timers.set(
      dir,
      this.schedule(ms, () => {
        this.timers.delete(dir);
        void this.refresh(dir, files, render);
      }),
    );
  }

  private async refresh(dir: string, previous: FileEntry[], render: () => Promise<FileEntry[]>): Promise<void> {
    if (this.stopped) return;
    try {
      const next = await render();
      if (this.stopped) return;
      await writeAtomic(dir, next, this.now());
      this.arm(dir, next, render);
    } catch (e) {
      this.log(`token refresh for ${dir}: ${(e as Error).message}`);
      this.arm(dir, previous, render, true);
    }
  }

  /** The Pod stopped: no more refreshes. */
  stop(): void {
    this.stopped = true;
    for (const t of this.timers.values()) t.cancel();
    this.timers.clear();
  }
}
