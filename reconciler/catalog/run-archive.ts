import { commitBytes, type Deriver } from '../git/branch-writer.ts';
import { objectReader, writeObject, type ObjectReader } from '../git/objects.ts';
import { editTree } from '../git/tree.ts';
import { documentText, DocumentParseError, parseDocument } from './document.ts';
import { formatProblem, INDEX_DIR, type CatalogProblem } from './summary.ts';

/**
 * Run records off the tip. A fleet writes ~2,400 run records a day and keeps them all, so a tip holding every one
 * grows with the history — and a new machine's depth-1 fetch (`coffer dr restore`) with it. Day directories older than
 * `RUN_DAYS_ON_TIP` days (counted back from the newest day written) move, in the commit that writes a new run, into a
 * segment: a root commit whose tree holds just those days (`runs/<cluster>/<day>/` and their hourly index shards,
 * grafted by tree oid, nothing re-read or re-hashed), made a second parent of the catalog commit so it is reachable
 * and travels with every full clone, but not with a depth-1 fetch of the tip. `runs/<cluster>/archive.yaml` (kind
 * RunArchive, plain YAML) names each archived day's segment; readers (`Catalog.listRuns`, `runDaysNewestFirst`,
 * compliance) read it and, for a remote, fetch a segment only when they reach its day. `git show <commit>:runs/…`
 * shows an archived record; `git log --first-parent` is the catalog's own history.
 */
export const RUN_DAYS_ON_TIP = 7;
export const RUN_ARCHIVE_KIND = 'RunArchive';
const DAY = /^\d{4}-\d{2}-\d{2}$/;

export interface RunArchive {
  apiVersion: 'coffer.dev/v1alpha1';
  kind: typeof RUN_ARCHIVE_KIND;
  cluster: string;
  /** One entry per archived day (a day written again after it was archived has a second entry). */
  segments: Array<{ day: string; commit: string }>;
}

export function archivePath(runsDir: string, cluster: string): string {
  return `${runsDir}/${cluster}/archive.yaml`;
}

export class RunArchiveError extends Error {
  readonly code = 'E_CATALOG_RUN_ARCHIVE';
  constructor(readonly problem: CatalogProblem) {
    super(formatProblem(problem));
  }
}

/** The archive document of one cluster's run directory tree, or undefined when it has none. Throws RunArchiveError naming the path when it is not one. */
export function readArchive(objects: ObjectReader, runsDir: string, cluster: string, clusterTree: string): RunArchive | undefined {
  const entry = objects.readTree(clusterTree).find((e) => e.name === 'archive.yaml' && e.type === 'blob');
  if (!entry) return undefined;
  const path = archivePath(runsDir, cluster);
  let doc: RunArchive;
  try {
    doc = parseDocument(objects.read(entry.oid).data.toString('utf8')) as RunArchive;
  } catch (e) {
    if (!(e instanceof DocumentParseError)) throw e;
    throw new RunArchiveError({ path, ...e.failure });
  }
  const ok = doc?.kind === RUN_ARCHIVE_KIND && Array.isArray(doc.segments) && doc.segments.every((s) => typeof s?.day === 'string' && DAY.test(s.day) && typeof s.commit === 'string' && /^[0-9a-f]{40}$/.test(s.commit));
  if (!ok) throw new RunArchiveError({ path, message: `not a RunArchive (want kind ${RUN_ARCHIVE_KIND} and segments of {day: yyyy-mm-dd, commit: <40 hex>})` });
  return doc;
}

/** The oldest day the tip keeps when `newest` is the newest day of run records: `2026-01-10` → `2026-01-04`. */
export function windowStart(newest: string): string {
  return new Date(Date.parse(`${newest}T00:00:00Z`) - (RUN_DAYS_ON_TIP - 1) * 86_400_000).toISOString().slice(0, 10);
}

/** A segment commit (no parent; its time the end of its newest day, so the same move always makes the same commit). */
export function segmentCommitBytes(tree: string, cluster: string, days: readonly string[], records: number): Buffer {
  const first = days[0]!;
  const last = days.at(-1)!;
  const who = { name: 'Coffer', email: 'coffer@localhost', timestamp: Date.parse(`${last}T00:00:00Z`) / 1000 + 86_399 };
  return commitBytes(tree, [], who, `runs: archive ${cluster} ${first === last ? first : `${first}..${last}`} (${records} run record${records === 1 ? '' : 's'})`);
}

/**
 * Moves the days that fell out of the window off the tip, for every cluster this change writes a run record of. Runs
 * after the run-index deriver, so `edits` include the shards it wrote: a day this change touches stays (the next run
 * moves it). The segment commit is deterministic (its time is the end of its newest day), so a rebased attempt on the
 * same base writes the same one. Nothing moves when the cluster's archive.yaml cannot be read: `catalog check` says why.
 */
export function runArchiveDeriver(runsDir: string): Deriver {
  return async ({ gitdir, baseTree, edits, addParent }) => {
    const out = new Map<string, string | null>();
    if (!baseTree) return out;
    const newest = new Map<string, string>();
    const touched = new Set<string>();
    for (const [path, oid] of edits) {
      const parts = path.split('/');
      if (parts[0] !== runsDir || parts.length < 3) continue;
      if (parts[1] === INDEX_DIR) {
        if (parts[3]) touched.add(`${parts[2]}/${parts[3]}`);
        continue;
      }
      if (!DAY.test(parts[2]!)) continue;
      touched.add(`${parts[1]}/${parts[2]}`);
      if (oid !== null && parts.length === 4 && parts[3]!.endsWith('.yaml') && (newest.get(parts[1]!) ?? '') < parts[2]!) newest.set(parts[1]!, parts[2]!);
    }
    const objects = objectReader(gitdir);
    for (const [cluster, written] of newest) {
      const clusterTree = objects.treeAt(baseTree, `${runsDir}/${cluster}`);
      if (!clusterTree) continue;
      let archive: RunArchive | undefined;
      try {
        archive = readArchive(objects, runsDir, cluster, clusterTree);
      } catch (e) {
        if (e instanceof RunArchiveError) continue;
        throw e;
      }
      const days = objects.readTree(clusterTree).filter((e) => e.type === 'tree' && DAY.test(e.name));
      const top = days.reduce((m, d) => (d.name > m ? d.name : m), written);
      const cut = windowStart(top);
      const move = days.filter((d) => d.name < cut && !touched.has(`${cluster}/${d.name}`)).sort((a, b) => (a.name < b.name ? -1 : 1));
      if (!move.length) continue;
      const shardRoot = objects.treeAt(baseTree, `${runsDir}/${INDEX_DIR}/${cluster}`);
      const shardDays = new Map(shardRoot ? objects.readTree(shardRoot).map((e) => [e.name, e.oid]) : []);
      const grafts = new Map<string, { tree: string }>();
      let records = 0;
      for (const d of move) {
        grafts.set(`${runsDir}/${cluster}/${d.name}`, { tree: d.oid });
        out.set(`${runsDir}/${cluster}/${d.name}`, null);
        records += objects.readTree(d.oid).filter((e) => e.type === 'blob').length;
        const shards = shardDays.get(d.name);
        if (shards) {
          grafts.set(`${runsDir}/${INDEX_DIR}/${cluster}/${d.name}`, { tree: shards });
          out.set(`${runsDir}/${INDEX_DIR}/${cluster}/${d.name}`, null);
        }
      }
      const tree = await editTree(gitdir, undefined, grafts);
      const commit = writeObject(gitdir, 'commit', segmentCommitBytes(tree, cluster, move.map((d) => d.name), records), objects);
      addParent(commit);
      const next: RunArchive = { apiVersion: 'coffer.dev/v1alpha1', kind: RUN_ARCHIVE_KIND, cluster, segments: [...(archive?.segments ?? []), ...move.map((d) => ({ day: d.name, commit }))] };
      out.set(archivePath(runsDir, cluster), writeObject(gitdir, 'blob', Buffer.from(documentText(next)), objects));
    }
    return out;
  };
}

/**
 * `coffer catalog check` of the archive documents under `runs/` at a root tree: each must parse, and (`local`: its
 * objects are all here) each segment must hold the day it is named for. Returned as problems naming the path.
 */
export function checkArchives(objects: ObjectReader, runsDir: string, rootTree: string, local: boolean): CatalogProblem[] {
  const runsRoot = objects.treeAt(rootTree, runsDir);
  const out: CatalogProblem[] = [];
  for (const c of runsRoot ? objects.readTree(runsRoot) : []) {
    if (c.type !== 'tree' || c.name.startsWith('.')) continue;
    try {
      for (const s of readArchive(objects, runsDir, c.name, c.oid)?.segments ?? []) {
        if (local && !(objects.has(s.commit) && objects.treeAt(s.commit, `${runsDir}/${c.name}/${s.day}`))) out.push({ path: archivePath(runsDir, c.name), message: `segment ${s.commit} for ${s.day} is missing or does not hold that day` });
      }
    } catch (e) {
      if (!(e instanceof RunArchiveError)) throw e;
      out.push(e.problem);
    }
  }
  return out;
}
