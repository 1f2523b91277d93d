import { BranchWriter, type Changes, type DerivedEdits, type CommitOptions, type CommitResult, type ConflictResolver, type Identity, type Logger, silentLogger } from '../git/branch-writer.ts';
import { commitTree, objectId, objectReader } from '../git/objects.ts';
import { GitSourceError } from '../git/errors.ts';
import type { GitSource } from '../git/source.ts';
import { blobAt } from '../git/tree.ts';
import { compareKeys, continueExpired, decodeContinue, encodeContinue } from './continue.ts';
import { indexDeriver } from './derive.ts';
import { policyFiles, type PolicyDirectory } from './policy-index.ts';
import { buildDayShards, readDay, runIndexDeriver } from './run-index.ts';
import { archivePath, checkArchives, readArchive, RunArchiveError, runArchiveDeriver } from './run-archive.ts';
import { fetchCommit } from '../git/source.ts';
import { DocumentParseError, documentText, parseDocument } from './document.ts';
import { CatalogSnapshot, type DirFilter } from './snapshot.ts';
import { cmp, formatProblem, INDEX_DIR, indexPath, renderIndex, type CatalogProblem, type RestorePointSummary } from './summary.ts';
import { DEFAULT_LAYOUT, type Layout, checkSegment, lastRunPath, restorePointPath, runPath } from './layout.ts';
import type { PointFacts } from './retention.ts';
import { backupMessage, expireMessage } from './messages.ts';
import type { LastRun, RestorePoint, RunRecord } from './types.ts';
import { retentionOutcome, type RetentionOutcome } from './retention.ts';
import type { PlanPolicy } from '../../compiler/plan/types.ts';

export type { Changes, CommitResult, Identity } from '../git/branch-writer.ts';
export { CatalogContinueError } from './continue.ts';
export { formatProblem, type CatalogProblem, type RestorePointSummary } from './summary.ts';
export type { CatalogSnapshot } from './snapshot.ts';
export * from './types.ts';
export { restorePointName, runId, compactTime } from './layout.ts';
export { backupMessage, expireMessage, formatBytes } from './messages.ts';
export { retentionOutcome, type RetentionOutcome } from './retention.ts';

export const DEFAULT_CATALOG_BRANCH = 'coffer-catalog';
export const DEFAULT_AUTHOR: Identity = { name: 'Coffer', email: 'coffer@localhost' };

export interface CatalogOptions {
  source: GitSource;
  /**
   * This cluster's name: restore points and runs are written under its subtree only. Absent for a reader of every
   * cluster (`-A` on a DR workstation's catalog-only repository): then anything needing a cluster of its own throws.
   */
  cluster?: string;
  /** From coffer.yaml `spec.catalog.branch`; default `coffer-catalog`, an orphan branch created on first write. */
  branch?: string;
  /** From coffer.yaml `spec.catalog.path`; default `catalog`. */
  catalogDir?: string;
  author?: Identity;
  clock?: () => Date;
  log?: Logger;
  maxAttempts?: number;
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
  readonly layout: Layout;
  private readonly ownCluster: string | undefined;
  private readonly writer: BranchWriter;
  private readonly log: Logger;
  private readonly derive: CommitOptions['derive'];

  constructor(private readonly opts: CatalogOptions) {
    this.branch = opts.branch ?? DEFAULT_CATALOG_BRANCH;
    this.ownCluster = opts.cluster === undefined ? undefined : checkSegment('cluster', opts.cluster);
    this.layout = { ...DEFAULT_LAYOUT, catalogDir: opts.catalogDir ?? DEFAULT_LAYOUT.catalogDir };
    this.log = opts.log ?? silentLogger;
    // In order, each seeing the edits of those before it (the run archive must know which days got new shards).
    const derivers = [indexDeriver(this.layout.catalogDir), runIndexDeriver(this.layout.runsDir), runArchiveDeriver(this.layout.runsDir)];
    this.derive = async (ctx) => {
      const out: DerivedEdits = new Map();
      for (const d of derivers) {
        const seen = new Map(ctx.edits);
        for (const [p, e] of out) if (e === null || typeof e === 'string') seen.set(p, e);
        for (const [p, e] of await d({ ...ctx, edits: seen })) out.set(p, e);
      }
      return out;
    };
    this.writer = new BranchWriter({
      source: opts.source,
      branch: this.branch,
      author: opts.author ?? DEFAULT_AUTHOR,
      ...(opts.clock ? { clock: opts.clock } : {}),
      log: this.log,
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

  /** A file at the tip (reports, restore results), read through the bulk object reader; undefined when absent. */
  async readFile(path: string): Promise<Buffer | undefined> {
    const tip = await this.tip();
    if (!tip) return undefined;
    const objects = objectReader(this.opts.source.gitdir);
    const oid = await blobAt(this.opts.source.gitdir, commitTree(objects.read(tip).data), path);
    return oid ? objects.read(oid).data : undefined;
  }

  /** Low-level: commit any files (reports, restore results) as one change. Prefer the typed helpers below. */
  commitChanges(changes: Changes, message: string, opts: { resolve?: ConflictResolver } = {}): Promise<CommitResult> {
    return this.writer.commit(changes, message, { ...opts, derive: this.derive });
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
    // Ajv and the schemas load with the first write, never for a listing.
    const { validateRestorePoint, validateRun } = await import('./validate.ts');
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
    const res = await this.writer.commit({ put }, message ?? backupMessage(run, restorePoint), { resolve: newerLastRun, derive: this.derive });
    return rpPath ? { ...res, restorePointPath: rpPath } : res;
  }

  /** Records a restore or retention run (or any run without a restore point) as one commit. */
  async recordRun(run: RunRecord, message: string, extra: Changes = {}): Promise<CommitResult> {
    (await import('./validate.ts')).validateRun(run);
    return this.commitChanges({ put: [{ path: runPath(this.layout, this.cluster, run.status.startTime, run.metadata.name), content: documentText(run) }, ...(extra.put ?? [])], delete: extra.delete ?? [] }, message);
  }

  /** Removes expired restore points of one (namespace, policy) in one commit, with the retention run that decided it. */
  async expireRestorePoints(namespace: string, policy: string, names: readonly string[], run?: RunRecord): Promise<CommitResult> {
    const del = names.map((n) => restorePointPath(this.layout, this.cluster, namespace, policy, n));
    const message = expireMessage(namespace, policy, names);
    if (run) return this.recordRun({ ...run, status: { ...run.status, expired: [...names] } }, message, { delete: del });
    return this.commitChanges({ delete: del }, message);
  }

  /**
   * Applies a policy's GFS retention: one commit per namespace that loses restore points (nothing is committed when
   * nothing expires). Returns what was removed so the caller can then forget the repository snapshots — catalog
   * first, data second, so a restore point never points at forgotten data.
   */
  async applyRetention(policy: Pick<PlanPolicy, 'name' | 'paused' | 'retention' | 'schedule'>, run?: (namespace: string, expired: string[]) => RunRecord): Promise<Array<RetentionOutcome & { commit?: CommitResult }>> {
    // Decide on the summaries (the index); read full documents only of what expires — the caller needs their snapshots.
    const page = await this.listRestorePoints({ policy: policy.name });
    const outcomes = retentionOutcome(policy, page.items.map((s) => ({ path: s.path, doc: { ...factsOf(s), path: s.path } })), this.opts.clock?.() ?? new Date());
    const snap = await this.snapshot(page.commit);
    const results: Array<RetentionOutcome & { commit?: CommitResult }> = [];
    for (const o of outcomes) {
      const expire = o.expire.map((f) => snap!.document(f.path)).filter((d): d is RestorePoint => d !== undefined);
      if (expire.length === 0) {
        results.push({ ...o, expire });
        continue;
      }
      const names = expire.map((d) => d.metadata.name);
      const message = expireMessage(o.namespace, o.policy, names);
      const del = o.expire.map((f) => f.path);
      const r = run?.(o.namespace, names);
      const commit = r ? await this.recordRun({ ...r, status: { ...r.status, expired: names } }, message, { delete: del }) : await this.commitChanges({ delete: del }, message);
      results.push({ ...o, expire, commit });
    }
    return results;
  }

  /** This cluster's name; a catalog opened for every cluster has none, and asking for it is a configuration error. */
  get cluster(): string {
    if (this.ownCluster === undefined) throw new GitSourceError('E_CONFIG', 'no cluster of its own: coffer.yaml has no spec.cluster; pass --cluster');
    return this.ownCluster;
  }

  /** A snapshot of the restore points at `commit` (default: the tip), or undefined while nothing was ever recorded. */
  async snapshot(commit?: string): Promise<CatalogSnapshot | undefined> {
    const at = commit ?? (await this.tip());
    return at ? new CatalogSnapshot(objectReader(this.opts.source.gitdir), this.layout.catalogDir, at) : undefined;
  }

  private dirFilter(filter: RestorePointFilter): DirFilter {
    return { cluster: filter.cluster === '*' ? undefined : (filter.cluster ?? this.cluster), namespace: filter.namespace, policy: filter.policy };
  }

  /**
   * One page of restore point summaries (cluster, namespace, policy, then start time, oldest first), read from the
   * directories' indexes — a directory whose index does not match its documents is read from the documents instead
   * and named in `stale`. `continue` resumes after the last item of an earlier page, at that page's commit, so pages
   * are one consistent snapshot like the Kubernetes list API; a token whose commit is gone is E_CATALOG_CONTINUE_EXPIRED.
   */
  async listRestorePoints(query: RestorePointQuery = {}): Promise<RestorePointPage> {
    const token = query.continue ? decodeContinue(query.continue, 5) : undefined;
    const snap = await this.snapshotFor(token);
    const page: RestorePointPage = { items: [], problems: [], stale: [], ...(snap ? { commit: snap.rootish! } : {}) };
    if (!snap) return page;
    const limit = query.limit ?? Infinity;
    const after = token?.after;
    for (const dir of snap.dirs(this.dirFilter(query))) {
      const dirKey = [dir.cluster, dir.namespace, dir.policy] as const;
      if (after && compareKeys(dirKey, after.slice(0, 3)) < 0) continue;
      const { items, problems, indexed } = snap.summaries(dir);
      if (!indexed) page.stale.push(dir.path);
      page.problems.push(...problems);
      for (const item of items) {
        if (after && compareKeys([...dirKey, item.startTime, item.name], after) <= 0) continue;
        if ((query.phase && item.phase !== query.phase) || (query.since && item.startTime < query.since)) continue;
        if (page.items.length === limit) {
          const last = page.items[page.items.length - 1]!;
          page.continue = encodeContinue({ commit: snap.rootish!, after: [last.cluster, last.namespace, last.policy, last.startTime, last.name] });
          return page;
        }
        page.items.push(item);
      }
    }
    return page;
  }

  /** The snapshot a continue token names (E_CATALOG_CONTINUE_EXPIRED when its commit is gone), else the tip. */
  private async snapshotFor(token: { commit: string } | undefined): Promise<CatalogSnapshot | undefined> {
    try {
      return await this.snapshot(token?.commit);
    } catch (e) {
      if (token && (e as { code?: string }).code === 'E_GIT_OBJECT_MISSING') throw continueExpired(token.commit);
      throw e;
    }
  }

  /**
   * Full restore point documents, one directory at a time (oldest first within it), for `-o json` of any size: memory
   * holds one directory, never the catalog. Documents that fail to parse come back as problems beside the others.
   */
  async *streamRestorePoints(filter: RestorePointFilter = {}): AsyncGenerator<{ entries: Array<CatalogEntry<RestorePoint>>; problems: CatalogProblem[] }> {
    const snap = await this.snapshot();
    if (!snap) return;
    for (const dir of snap.dirs(this.dirFilter(filter))) yield snap.documents(dir);
  }

  /**
   * Restore points at the tip with their full documents, sorted by cluster, namespace, policy, then start time. A
   * document that fails to parse is skipped with a warning naming its path and line; the others are still returned.
   */
  async readRestorePoints(filter: RestorePointFilter = {}): Promise<Array<CatalogEntry<RestorePoint>>> {
    const out: Array<CatalogEntry<RestorePoint>> = [];
    for await (const { entries, problems } of this.streamRestorePoints(filter)) {
      out.push(...entries);
      for (const p of problems) this.log.warn('catalog document skipped', { problem: formatProblem(p) });
    }
    return out;
  }

  /**
   * Index check: every index file (per directory, per policy, per cluster, per hour of runs) that is missing,
   * unreadable or does not match the documents, and index files nothing calls for.
   */
  async checkIndex(): Promise<IndexCheck> {
    return (await this.auditIndex()).check;
  }

  /** Rewrites every stale or missing index and removes orphans, in one commit; nothing is committed when all agree. */
  async reindex(): Promise<IndexCheck & { commit?: CommitResult }> {
    const { check, put } = await this.auditIndex();
    if (!check.stale.length && !check.orphans.length) return check;
    const files = check.stale.filter((s) => s.path.startsWith(`${this.layout.catalogDir}/${INDEX_DIR}/.`)).length;
    const dirs = check.stale.length - files;
    const parts = [
      ...(dirs || !files ? [`${dirs} director${dirs === 1 ? 'y' : 'ies'}`] : []),
      ...(files ? [`${files} policy and cluster index${files === 1 ? '' : 'es'}`] : []),
      ...(check.orphans.length ? [`remove ${check.orphans.length} orphan index${check.orphans.length === 1 ? '' : 'es'}`] : []),
    ];
    const commit = await this.writer.commit({ put, delete: check.orphans }, `catalog: reindex ${parts.join(', ')}`);
    return { ...check, commit };
  }

  /** What check reports, and the files reindex writes to mend it: every index as the documents at the tip call for. */
  private async auditIndex(): Promise<{ check: IndexCheck; put: Array<{ path: string; content: string }> }> {
    const snap = await this.snapshot();
    const check: IndexCheck = { directories: 0, restorePoints: 0, stale: [], orphans: [], problems: [] };
    const put: Array<{ path: string; content: string }> = [];
    if (!snap) return { check, put };
    const have = snap.indexFiles();
    const wanted = new Set<string>();
    const want = (path: string, content: string, stale: () => string): void => {
      wanted.add(path);
      const got = have.get(path);
      if (got === objectId('blob', Buffer.from(content))) return;
      check.stale.push({ path, reason: got === undefined ? 'missing' : stale() });
      put.push({ path, content });
    };
    const byCluster = new Map<string, Array<PolicyDirectory & { policy: string }>>();
    for (const dir of snap.dirs({}, { walk: true })) {
      check.directories++;
      const index = snap.buildIndex(dir);
      const content = renderIndex(index);
      check.restorePoints += index.items.length;
      check.problems.push(...index.problems.map(({ file, ...p }) => ({ path: `${dir.path}/${file}`, ...p })));
      want(indexPath(this.layout.catalogDir, dir.cluster, dir.namespace, dir.policy), content, () => (snap.trustedIndex(dir) ? 'content differs from the documents' : 'does not describe the current documents'));
      let list = byCluster.get(dir.cluster);
      if (!list) byCluster.set(dir.cluster, (list = []));
      list.push({ namespace: dir.namespace, policy: dir.policy, tree: dir.tree, index: objectId('blob', Buffer.from(content)) });
    }
    for (const [cluster, dirs] of byCluster) {
      for (const [path, content] of policyFiles(this.layout.catalogDir, cluster, snap.clusterTree(cluster)!, dirs, (t) => objectId('blob', Buffer.from(t)))) {
        want(path, content, () => 'does not describe the current directories');
      }
    }
    check.orphans = [...have.keys()].filter((p) => !wanted.has(p));
    const objects = objectReader(this.opts.source.gitdir);
    // Archived days were checked when they were on the tip (readers verify their shards again); their pointers here.
    for (const day of this.runDays(snap.rootish!, '*', undefined, true)) {
      const got = readDay(objects, this.layout.runsDir, day.cluster, day.day, day.tree!, day.shards);
      if (!got.stale) continue;
      check.stale.push({ path: `${this.layout.runsDir}/${INDEX_DIR}/${day.cluster}/${day.day}`, reason: `${got.stale} hour${got.stale === 1 ? '' : 's'} of run records not indexed` });
      for (const [path, content] of buildDayShards(objects, this.layout.runsDir, day.cluster, day.day, day.tree!)) put.push({ path, content });
    }
    check.problems.push(...checkArchives(objects, this.layout.runsDir, snap.rootish!, this.opts.source.kind === 'local'));
    return { check, put };
  }

  /** Runs at the tip, newest first. Day directories before `since` are skipped without being read. */
  async readRuns(filter: RunFilter = {}): Promise<RunRecord[]> {
    return (await this.listRuns(filter)).items;
  }

  /** A page of runs, newest first; `continue` resumes after an earlier page's last run, at that page's commit. */
  async listRuns(filter: RunFilter & { continue?: string } = {}): Promise<{ items: RunRecord[]; continue?: string }> {
    const token = filter.continue ? decodeContinue(filter.continue, 2) : undefined;
    const tip = token ? (await this.snapshotFor(token)) && token.commit : await this.tip();
    if (!tip) return { items: [] };
    const sinceDay = filter.since?.toISOString().slice(0, 10);
    const runs: RunRecord[] = [];
    const after = token?.after;
    // Newest day first, stopping at a day boundary once the page is full and one more is known to exist: a run's day
    // directory is its start day, so older days only hold later pages (and archived segments stay unfetched).
    let counted = 0;
    let previous: string | undefined;
    for (const ref of this.runDays(tip, filter.cluster, sinceDay).sort((a, b) => cmp(b.day, a.day))) {
      if (filter.limit !== undefined && ref.day !== previous && counted > filter.limit) break;
      previous = ref.day;
      const day = await this.dayTrees(ref);
      const got = readDay(objectReader(this.opts.source.gitdir), this.layout.runsDir, day.cluster, day.day, day.tree, day.shards);
      for (const p of got.problems) this.log.warn('catalog document skipped', { problem: formatProblem(p) });
      for (const r of got.runs) {
        if (filter.namespace && r.spec.namespace !== filter.namespace) continue;
        if (filter.policy && r.spec.policy !== filter.policy) continue;
        if (filter.type && r.spec.type !== filter.type) continue;
        if (filter.phase && r.status.phase !== filter.phase) continue;
        if (filter.since && new Date(r.status.startTime) < filter.since) continue;
        runs.push(r);
        if (!after || compareKeys([r.status.startTime, r.metadata.name], after) < 0) counted++;
      }
    }
    runs.sort((a, b) => cmp(b.status.startTime, a.status.startTime) || cmp(b.metadata.name, a.metadata.name));
    const rest = after ? runs.filter((r) => compareKeys([r.status.startTime, r.metadata.name], after) < 0) : runs;
    if (filter.limit === undefined || rest.length <= filter.limit) return { items: rest };
    const items = rest.slice(0, filter.limit);
    const last = items[items.length - 1]!;
    return { items, continue: encodeContinue({ commit: tip, after: [last.status.startTime, last.metadata.name] }) };
  }

  /**
   * This cluster's run records one day at a time, newest day first, for readers that stop once they have seen enough
   * (the compliance report): history is read only as far back as the caller goes. `want` is asked per run file name
   * before its hour is read — an hour with no wanted file is skipped unread; the records of a read hour all come back.
   */
  async *runDaysNewestFirst(want?: (file: string) => boolean): AsyncGenerator<RunRecord[]> {
    const tip = await this.tip();
    if (!tip) return;
    const objects = objectReader(this.opts.source.gitdir);
    for (const ref of this.runDays(tip, undefined, undefined).sort((a, b) => cmp(b.day, a.day))) {
      const day = await this.dayTrees(ref);
      const got = readDay(objects, this.layout.runsDir, day.cluster, day.day, day.tree, day.shards, want);
      for (const p of got.problems) this.log.warn('catalog document skipped', { problem: formatProblem(p) });
      yield got.runs;
    }
  }

  /**
   * Day directories of run records (and their index shards' tree), of one cluster or all ('*'), from `sinceDay` on:
   * those on the tip, then the archived ones (`segment`: the commit holding that day, see run-archive.ts).
   */
  private runDays(commit: string, clusterFilter: string | undefined, sinceDay: string | undefined, tipOnly = false): DayRef[] {
    const objects = objectReader(this.opts.source.gitdir);
    const root = objects.treeAt(commit, this.layout.runsDir);
    if (!root) return [];
    const want = clusterFilter === '*' ? undefined : (clusterFilter ?? this.cluster);
    const top = objects.readTree(root);
    const indexRoot = top.find((e) => e.name === INDEX_DIR && e.type === 'tree')?.oid;
    const out: DayRef[] = [];
    for (const c of top) {
      if (c.type !== 'tree' || c.name.startsWith('.') || (want !== undefined && c.name !== want)) continue;
      const indexCluster = indexRoot ? objects.readTree(indexRoot).find((e) => e.name === c.name && e.type === 'tree')?.oid : undefined;
      const shardDays = new Map(indexCluster ? objects.readTree(indexCluster).map((e) => [e.name, e.oid]) : []);
      for (const d of objects.readTree(c.oid)) {
        if (d.type !== 'tree' || !/^\d{4}-\d{2}-\d{2}$/.test(d.name) || (sinceDay !== undefined && d.name < sinceDay)) continue;
        const shards = shardDays.get(d.name);
        out.push({ cluster: c.name, day: d.name, tree: d.oid, ...(shards ? { shards } : {}) });
      }
      if (tipOnly) continue;
      let archive;
      try {
        archive = readArchive(objects, this.layout.runsDir, c.name, c.oid);
      } catch (e) {
        if (!(e instanceof RunArchiveError)) throw e;
        this.log.warn('catalog document skipped', { problem: e.message });
      }
      for (const s of archive?.segments ?? []) {
        if (sinceDay === undefined || s.day >= sinceDay) out.push({ cluster: c.name, day: s.day, segment: s.commit });
      }
    }
    return out;
  }

  /** The trees of a day: at hand for the tip's days; an archived day's segment is fetched first when it is not local (remotes). */
  private async dayTrees(ref: DayRef): Promise<{ cluster: string; day: string; tree: string; shards?: string }> {
    if (ref.tree) return { cluster: ref.cluster, day: ref.day, tree: ref.tree, ...(ref.shards ? { shards: ref.shards } : {}) };
    const { gitdir, remote } = this.opts.source;
    const objects = objectReader(gitdir);
    if (remote && !objects.has(ref.segment!)) await fetchCommit(gitdir, remote, ref.segment!, this.opts.source.cache);
    const tree = objects.treeAt(ref.segment!, `${this.layout.runsDir}/${ref.cluster}/${ref.day}`);
    const shards = objects.treeAt(ref.segment!, `${this.layout.runsDir}/${INDEX_DIR}/${ref.cluster}/${ref.day}`);
    if (!tree) throw new RunArchiveError({ path: archivePath(this.layout.runsDir, ref.cluster), message: `segment ${ref.segment} holds no ${ref.day}` });
    return { cluster: ref.cluster, day: ref.day, tree, ...(shards ? { shards } : {}) };
  }

  /** The latest run per (policy, namespace) of this cluster — one small file each, so the scheduler never scans history. */
  async latestRuns(): Promise<LastRun[]> {
    const tip = await this.tip();
    if (!tip) return [];
    const files = this.walk(tip, `${this.layout.runsDir}/${this.cluster}/latest`, [undefined], 2);
    const out: LastRun[] = [];
    for (const f of files) {
      const doc = f.path.endsWith('.yaml') ? this.parse<LastRun>(f) : undefined;
      if (doc) out.push(doc);
    }
    return out.sort((a, b) => cmp(a.namespace, b.namespace) || cmp(a.policy, b.policy));
  }

  private async readLastRun(namespace: string, policy: string): Promise<LastRun | undefined> {
    const tip = await this.tip();
    if (!tip) return undefined;
    const path = lastRunPath(this.layout, this.cluster, namespace, policy);
    const oid = await blobAt(this.opts.source.gitdir, commitTree(objectReader(this.opts.source.gitdir).read(tip).data), path);
    return oid ? this.parse<LastRun>({ path, oid }) : undefined;
  }

  /** A YAML document by blob id; one that does not parse is skipped with a warning naming its path and line. */
  private parse<T>(f: { path: string; oid: string }): T | undefined {
    const text = objectReader(this.opts.source.gitdir).read(f.oid).data.toString('utf8');
    try {
      return parseDocument(text) as T;
    } catch (e) {
      if (!(e instanceof DocumentParseError)) throw e;
      this.log.warn('catalog document skipped', { problem: formatProblem({ path: f.path, ...e.failure }) });
      return undefined;
    }
  }

  /**
   * Blobs under `dir`, `depth` levels down; `levels[i]` fixes the name at level i (pruning the walk), `skip` drops
   * whole subtrees by name. Only trees on the way are read.
   */
  private walk(commit: string, dir: string, levels: ReadonlyArray<string | undefined>, depth: number, skip?: (level: number, name: string) => boolean): Array<{ path: string; oid: string }> {
    const objects = objectReader(this.opts.source.gitdir);
    const root = objects.treeAt(commit, dir);
    if (!root) return [];
    const out: Array<{ path: string; oid: string }> = [];
    const visit = (oid: string, base: string, level: number): void => {
      for (const e of objects.readTree(oid)) {
        const want = levels[level];
        if (want !== undefined && e.name !== want) continue;
        if (skip?.(level, e.name)) continue;
        const p = `${base}/${e.name}`;
        if (level === depth - 1) {
          if (e.type === 'blob') out.push({ path: p, oid: e.oid });
        } else if (e.type === 'tree') visit(e.oid, p, level + 1);
      }
    };
    visit(root, dir, 0);
    return out;
  }
}

/** A day of run records: on the tip (`tree`, `shards`) or archived in the commit `segment`. */
interface DayRef {
  cluster: string;
  day: string;
  tree?: string;
  shards?: string;
  segment?: string;
}

export interface RestorePointQuery extends RestorePointFilter {
  /** At most this many items; a `continue` token is returned when more match. */
  limit?: number;
  continue?: string;
  phase?: RestorePoint['spec']['phase'];
  /** Only restore points started at or after this RFC 3339 time (normalised ISO, e.g. from `toISOString()`). */
  since?: string;
}

export interface RestorePointPage {
  items: RestorePointSummary[];
  /** Documents that failed to parse (skipped; listings print them as warnings with a count). */
  problems: CatalogProblem[];
  /** Directories whose index did not match their documents (read from the documents; `coffer catalog reindex` mends). */
  stale: string[];
  /** Opaque token for the next page; absent on the last page. */
  continue?: string;
  /** The catalog commit the page was read at. */
  commit?: string;
}

export interface IndexCheck {
  directories: number;
  restorePoints: number;
  stale: Array<{ path: string; reason: string }>;
  orphans: string[];
  problems: CatalogProblem[];
}

/** What retention and compliance look at, shaped like the document so the pure code takes either. */
export function factsOf(s: RestorePointSummary): PointFacts {
  return {
    metadata: { name: s.name },
    spec: { cluster: s.cluster, namespace: s.namespace, policy: s.policy, phase: s.phase, startTime: s.startTime, ...(s.trigger ? { trigger: s.trigger } : {}), ...(s.pinned ? { pinned: true } : {}), ...(s.expires ? { expires: s.expires } : {}) },
  };
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
  const t = parseDocument(Buffer.from(theirs).toString('utf8')) as LastRun;
  const o = parseDocument(Buffer.from(ours).toString('utf8')) as LastRun;
  const winner = t.startTime > o.startTime || (t.startTime === o.startTime && t.run > o.run) ? t : o;
  const successes = [t.lastSuccessTime, o.lastSuccessTime].filter((s): s is string => !!s).sort();
  const merged: LastRun = { ...winner };
  if (successes.length) merged.lastSuccessTime = successes[successes.length - 1]!;
  return documentText(merged);
};
