import { gitFs } from '../git/fs.ts';
import git from 'isomorphic-git';
import YAML from 'yaml';
import { BranchWriter, type Changes, type CommitResult, type ConflictResolver, type Identity, type Logger, silentLogger } from '../git/branch-writer.ts';
import { defaultCacheDir, type GitSource } from '../git/source.ts';
import { DocCache } from './doc-cache.ts';
import { documentText } from './document.ts';
import { DEFAULT_LAYOUT, type Layout, checkSegment, lastRunPath, restorePointPath, runPath } from './layout.ts';
import { backupMessage, expireMessage } from './messages.ts';
import type { LastRun, RestorePoint, RunRecord } from './types.ts';
import { validateRestorePoint, validateRun } from './validate.ts';
import { retentionOutcome, type RetentionOutcome } from './retention.ts';
import type { PlanPolicy } from '../../compiler/plan/types.ts';

export type { Changes, CommitResult, Identity } from '../git/branch-writer.ts';
export * from './types.ts';
export { restorePointName, runId, compactTime } from './layout.ts';
export { backupMessage, expireMessage, formatBytes } from './messages.ts';
export { retentionOutcome, type RetentionOutcome } from './retention.ts';

export const DEFAULT_CATALOG_BRANCH = 'coffer-catalog';
export const DEFAULT_AUTHOR: Identity = { name: 'Coffer', email: 'coffer@localhost' };

export interface CatalogOptions {
  source: GitSource;
  /** This cluster's name: restore points and runs are written under its subtree only. */
  cluster: string;
  /** From coffer.yaml `spec.catalog.branch`; default `coffer-catalog`, an orphan branch created on first write. */
  branch?: string;
  /** From coffer.yaml `spec.catalog.path`; default `catalog`. */
  catalogDir?: string;
  author?: Identity;
  clock?: () => Date;
  log?: Logger;
  maxAttempts?: number;
  /** Where parsed documents are cached between processes (default: Coffer's cache dir); false disables it. */
  cacheDir?: string | false;
}

export interface RestorePointFilter {
  /** Default: this catalog's cluster; '*' for every cluster in the repository. */
  cluster?: string;
  namespace?: string;
  policy?: string;
}

export interface CatalogEntry<T> {
  path: string;
  doc: T;
}

export interface RunFilter {
  cluster?: string;
  namespace?: string;
  policy?: string;
  type?: RunRecord['spec']['type'];
  phase?: RunRecord['status']['phase'];
  /** Only runs started at or after this instant (whole days are skipped without being read). */
  since?: Date;
  /** The newest N runs after filtering. */
  limit?: number;
}

/**
 * The catalog of restore points and runs, kept as YAML files in a Git branch. Reads go to the branch tip (fetched for
 * remotes); writes are one commit per logical change through `BranchWriter` (never lost, never duplicated).
 */
export class Catalog {
  readonly branch: string;
  readonly cluster: string;
  readonly layout: Layout;
  private readonly writer: BranchWriter;
  private readonly parsed = new Map<string, unknown>();
  private readonly docCache: DocCache | undefined;

  constructor(private readonly opts: CatalogOptions) {
    this.branch = opts.branch ?? DEFAULT_CATALOG_BRANCH;
    this.cluster = checkSegment('cluster', opts.cluster);
    this.layout = { ...DEFAULT_LAYOUT, catalogDir: opts.catalogDir ?? DEFAULT_LAYOUT.catalogDir };
    if (opts.cacheDir !== false) this.docCache = new DocCache(opts.cacheDir ?? defaultCacheDir(process.env), opts.source.gitdir);
    this.writer = new BranchWriter({
      source: opts.source,
      branch: this.branch,
      author: opts.author ?? DEFAULT_AUTHOR,
      ...(opts.clock ? { clock: opts.clock } : {}),
      log: opts.log ?? silentLogger,
      ...(opts.maxAttempts ? { maxAttempts: opts.maxAttempts } : {}),
    });
  }

  get source(): GitSource {
    return this.opts.source;
  }

  /** Tip of the catalog branch (fetched from the remote), or undefined while nothing was ever recorded. */
  tip(): Promise<string | undefined> {
    return this.writer.tip();
  }

  /** Low-level: commit any files (reports, restore results) as one change. Prefer the typed helpers below. */
  commitChanges(changes: Changes, message: string, opts: { resolve?: ConflictResolver } = {}): Promise<CommitResult> {
    return this.writer.commit(changes, message, opts);
  }

  /**
   * Records a finished backup run as one commit: the Run record, the per-pair latest-run pointer, and — only when the
   * run succeeded (or partially) — its RestorePoint. Both documents are validated first; nothing is written if either
   * is invalid. Retrying the same call is a no-op (`changed: false`).
   */
  async recordBackup(run: RunRecord, restorePoint?: RestorePoint, message?: string): Promise<CommitResult & { restorePointPath?: string }> {
    if (run.spec.type !== 'backup') throw new TypeError(`recordBackup: run ${run.metadata.name} is a ${run.spec.type} run`);
    const ok = run.status.phase === 'Succeeded' || run.status.phase === 'PartiallyFailed';
    if (restorePoint && !ok) {
      throw new TypeError(`recordBackup: run ${run.metadata.name} ended ${run.status.phase}; a failed run never records a restore point`);
    }
    if (restorePoint) {
      if (restorePoint.spec.phase !== run.status.phase && !(restorePoint.spec.phase === 'Succeeded' && run.status.phase === 'Succeeded')) {
        throw new TypeError(`recordBackup: restore point ${restorePoint.metadata.name} phase ${restorePoint.spec.phase} differs from run phase ${run.status.phase}`);
      }
      validateRestorePoint(restorePoint);
      if (restorePoint.spec.cluster !== this.cluster) throw new TypeError(`recordBackup: restore point is for cluster ${restorePoint.spec.cluster}, catalog writes ${this.cluster}`);
      const bytes = run.status.bytes ?? restorePoint.spec.stats?.bytesRead ?? restorePoint.spec.volumes?.reduce((n, x) => n + (x.sizeBytes ?? 0), 0);
      run = {
        ...run,
        status: {
          ...run.status,
          restorePoint: restorePoint.metadata.name,
          volumes: run.status.volumes ?? restorePoint.spec.volumes?.length ?? 0,
          ...(bytes !== undefined ? { bytes } : {}),
        },
      };
    }
    validateRun(run);
    const put: Array<{ path: string; content: string }> = [{ path: runPath(this.layout, this.cluster, run.status.startTime, run.metadata.name), content: documentText(run) }];
    let rpPath: string | undefined;
    if (restorePoint) {
      rpPath = restorePointPath(this.layout, this.cluster, restorePoint.spec.namespace, restorePoint.spec.policy, restorePoint.metadata.name);
      put.push({ path: rpPath, content: documentText(restorePoint) });
    }
    if (run.spec.namespace && run.spec.policy) {
      const previous = await this.readLastRun(run.spec.namespace, run.spec.policy);
      put.push({ path: lastRunPath(this.layout, this.cluster, run.spec.namespace, run.spec.policy), content: documentText(toLastRun(run, previous)) });
    }
    const res = await this.writer.commit({ put }, message ?? backupMessage(run, restorePoint), { resolve: newerLastRun });
    return rpPath ? { ...res, restorePointPath: rpPath } : res;
  }

  /** Records a restore or retention run (or any run without a restore point) as one commit. */
  async recordRun(run: RunRecord, message: string, extra: Changes = {}): Promise<CommitResult> {
    validateRun(run);
    return this.writer.commit(
      { put: [{ path: runPath(this.layout, this.cluster, run.status.startTime, run.metadata.name), content: documentText(run) }, ...(extra.put ?? [])], delete: extra.delete ?? [] },
      message,
    );
  }

  /** Removes expired restore points of one (namespace, policy) in one commit, with the retention run that decided it. */
  async expireRestorePoints(namespace: string, policy: string, names: readonly string[], run?: RunRecord): Promise<CommitResult> {
    const del = names.map((n) => restorePointPath(this.layout, this.cluster, namespace, policy, n));
    const message = expireMessage(namespace, policy, names);
    if (run) return this.recordRun({ ...run, status: { ...run.status, expired: [...names] } }, message, { delete: del });
    return this.writer.commit({ delete: del }, message);
  }

  /**
   * Applies a policy's GFS retention: one commit per namespace that loses restore points (nothing is committed when
   * nothing expires). Returns what was removed so the caller can then forget the repository snapshots — catalog
   * first, data second, so a restore point never points at forgotten data.
   */
  async applyRetention(policy: Pick<PlanPolicy, 'name' | 'paused' | 'retention' | 'schedule'>, run?: (namespace: string, expired: string[]) => RunRecord): Promise<Array<RetentionOutcome & { commit?: CommitResult }>> {
    const outcomes = retentionOutcome(policy, await this.readRestorePoints({ policy: policy.name }));
    const results: Array<RetentionOutcome & { commit?: CommitResult }> = [];
    for (const o of outcomes) {
      if (o.expire.length === 0) {
        results.push(o);
        continue;
      }
      const names = o.expire.map((d) => d.metadata.name);
      results.push({ ...o, commit: await this.expireRestorePoints(o.namespace, o.policy, names, run?.(o.namespace, names)) });
    }
    return results;
  }

  /** Restore points at the tip, sorted by namespace, policy, then start time (oldest first). */
  async readRestorePoints(filter: RestorePointFilter = {}): Promise<Array<CatalogEntry<RestorePoint>>> {
    const tip = await this.tip();
    if (!tip) return [];
    const levels = [filter.cluster === '*' ? undefined : (filter.cluster ?? this.cluster), filter.namespace, filter.policy];
    const files = await this.walk(tip, this.layout.catalogDir, levels, 4);
    const out: Array<CatalogEntry<RestorePoint>> = [];
    for (const f of files) {
      if (!f.path.endsWith('.yaml')) continue;
      out.push({ path: f.path, doc: await this.parse<RestorePoint>(f.oid) });
    }
    await this.docCache?.flush();
    return out.sort(
      (a, b) =>
        a.doc.spec.cluster.localeCompare(b.doc.spec.cluster) ||
        a.doc.spec.namespace.localeCompare(b.doc.spec.namespace) ||
        a.doc.spec.policy.localeCompare(b.doc.spec.policy) ||
        a.doc.spec.startTime.localeCompare(b.doc.spec.startTime) ||
        a.doc.metadata.name.localeCompare(b.doc.metadata.name),
    );
  }

  /** Runs at the tip, newest first. Day directories before `since` are skipped without reading their files. */
  async readRuns(filter: RunFilter = {}): Promise<RunRecord[]> {
    const tip = await this.tip();
    if (!tip) return [];
    const cluster = filter.cluster === '*' ? undefined : (filter.cluster ?? this.cluster);
    const sinceDay = filter.since?.toISOString().slice(0, 10);
    const files = await this.walk(tip, this.layout.runsDir, [cluster, undefined], 3, (depth, name) => depth === 1 && (name === 'latest' || (sinceDay !== undefined && name < sinceDay)));
    const runs: RunRecord[] = [];
    for (const f of files) {
      if (!f.path.endsWith('.yaml')) continue;
      const r = await this.parse<RunRecord>(f.oid);
      if (filter.namespace && r.spec.namespace !== filter.namespace) continue;
      if (filter.policy && r.spec.policy !== filter.policy) continue;
      if (filter.type && r.spec.type !== filter.type) continue;
      if (filter.phase && r.status.phase !== filter.phase) continue;
      if (filter.since && new Date(r.status.startTime) < filter.since) continue;
      runs.push(r);
    }
    await this.docCache?.flush();
    runs.sort((a, b) => b.status.startTime.localeCompare(a.status.startTime) || b.metadata.name.localeCompare(a.metadata.name));
    return filter.limit !== undefined ? runs.slice(0, filter.limit) : runs;
  }

  /** The latest run per (policy, namespace) of this cluster — one small file each, so the scheduler never scans history. */
  async latestRuns(): Promise<LastRun[]> {
    const tip = await this.tip();
    if (!tip) return [];
    const files = await this.walk(tip, `${this.layout.runsDir}/${this.cluster}/latest`, [undefined], 2);
    const out: LastRun[] = [];
    for (const f of files) if (f.path.endsWith('.yaml')) out.push(await this.parse<LastRun>(f.oid));
    return out.sort((a, b) => a.namespace.localeCompare(b.namespace) || a.policy.localeCompare(b.policy));
  }

  private async readLastRun(namespace: string, policy: string): Promise<LastRun | undefined> {
    const tip = await this.tip();
    if (!tip) return undefined;
    try {
      const { oid } = await git.readBlob({ fs: gitFs, gitdir: this.opts.source.gitdir, oid: tip, filepath: lastRunPath(this.layout, this.cluster, namespace, policy), cache: this.opts.source.cache });
      return this.parse<LastRun>(oid);
    } catch (e) {
      if ((e as { code?: string }).code === 'NotFoundError') return undefined;
      throw e;
    }
  }

  private async parse<T>(oid: string): Promise<T> {
    let doc = this.parsed.get(oid) ?? (await this.docCache?.get(oid));
    if (doc === undefined) {
      const { blob } = await git.readBlob({ fs: gitFs, gitdir: this.opts.source.gitdir, oid, cache: this.opts.source.cache });
      doc = YAML.parse(Buffer.from(blob).toString('utf8'));
      await this.docCache?.set(oid, doc);
    }
    this.parsed.set(oid, doc);
    // Callers get their own copy: a cached document must never be mutated in place.
    return structuredClone(doc) as T;
  }

  /**
   * Blobs under `dir`, `depth` levels down; `levels[i]` fixes the name at level i (pruning the walk), `skip` drops
   * whole subtrees by name. Only trees on the way are read.
   */
  private async walk(
    commit: string,
    dir: string,
    levels: ReadonlyArray<string | undefined>,
    depth: number,
    skip?: (level: number, name: string) => boolean,
  ): Promise<Array<{ path: string; oid: string }>> {
    const { gitdir, cache } = this.opts.source;
    let root: string;
    try {
      root = (await git.readTree({ fs: gitFs, gitdir, oid: commit, filepath: dir, cache })).oid;
    } catch (e) {
      if ((e as { code?: string }).code === 'NotFoundError') return [];
      throw e;
    }
    const out: Array<{ path: string; oid: string }> = [];
    const visit = async (oid: string, base: string, level: number): Promise<void> => {
      const { tree } = await git.readTree({ fs: gitFs, gitdir, oid, cache });
      for (const e of tree) {
        const want = levels[level];
        if (want !== undefined && e.path !== want) continue;
        if (skip?.(level, e.path)) continue;
        const p = `${base}/${e.path}`;
        if (level === depth - 1) {
          if (e.type === 'blob') out.push({ path: p, oid: e.oid });
        } else if (e.type === 'tree') await visit(e.oid, p, level + 1);
      }
    };
    await visit(root, dir, 0);
    return out;
  }
}

export function openCatalog(opts: CatalogOptions): Catalog {
  return new Catalog(opts);
}

export function toLastRun(run: RunRecord, previous: LastRun | undefined): LastRun {
  const ok = run.status.phase === 'Succeeded' || run.status.phase === 'PartiallyFailed';
  const last: LastRun = {
    policy: run.spec.policy!,
    namespace: run.spec.namespace!,
    run: run.metadata.name,
    phase: run.status.phase,
    startTime: run.status.startTime,
    trigger: run.spec.trigger,
  };
  if (run.status.endTime) last.endTime = run.status.endTime;
  if (run.spec.scheduledFor) last.scheduledFor = run.spec.scheduledFor;
  const success = ok ? run.status.startTime : previous?.lastSuccessTime;
  if (success) last.lastSuccessTime = success;
  return last;
}

/** Two replicas updated the same latest-run pointer: keep the newer run, and the newer success time of either. */
const newerLastRun: ConflictResolver = (path, theirs, ours) => {
  if (!path.includes('/latest/')) return ours;
  const t = YAML.parse(Buffer.from(theirs).toString('utf8')) as LastRun;
  const o = YAML.parse(Buffer.from(ours).toString('utf8')) as LastRun;
  const winner = t.startTime > o.startTime || (t.startTime === o.startTime && t.run > o.run) ? t : o;
  const successes = [t.lastSuccessTime, o.lastSuccessTime].filter((s): s is string => !!s).sort();
  const merged: LastRun = { ...winner };
  if (successes.length) merged.lastSuccessTime = successes[successes.length - 1]!;
  return documentText(merged);
};
