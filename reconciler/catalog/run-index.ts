import { createHash } from 'node:crypto';
import type { Deriver } from '../git/branch-writer.ts';
import { objectReader, writeObject, type ObjectReader } from '../git/objects.ts';
import type { TreeEdits } from '../git/tree.ts';
import { DocumentParseError, parseDocument } from './document.ts';
import { cmp, INDEX_DIR, type CatalogProblem } from './summary.ts';
import type { RunRecord } from './types.ts';

/**
 * The derived index of run records: `runs/.index/<cluster>/<day>/<hh>.json` holds the runs of one hour of one day
 * directory as JSON (runs are small; compliance reads them newest day first, as far back as its rules look). A day holds thousands of runs at fleet scale, so
 * the index is sharded by hour — a commit rewrites one shard of ~100 runs, not the day — and each shard records a
 * digest of its runs' names and blob ids: a reader lists the day's tree (which it reads anyway), recomputes the
 * digest per hour, and reads the documents of an hour whose shard does not match. Stale, never wrong.
 */
export const RUN_INDEX_KIND = 'RunIndex';

interface RunShard {
  apiVersion: 'coffer.dev/v1alpha1';
  kind: typeof RUN_INDEX_KIND;
  digest: string;
  items: RunRecord[];
}

/** `backup-20261124-010000-a1b2c3.yaml` → `01`; names Coffer did not write go to the shard `other`. */
export function runHour(file: string): string {
  return /^[a-z]+-\d{8}-(\d{2})\d{4}-/.exec(file)?.[1] ?? 'other';
}

export function runShardPath(runsDir: string, cluster: string, day: string, hour: string): string {
  return `${runsDir}/${INDEX_DIR}/${cluster}/${day}/${hour}.json`;
}

/** One `update` of the joined lines (the same bytes as one per line): a compliance report digests 100,000s of entries. */
function digest(entries: ReadonlyArray<{ name: string; oid: string }>): string {
  let text = '';
  for (const e of [...entries].sort((a, b) => cmp(a.name, b.name))) text += `${e.name} ${e.oid}\n`;
  return createHash('sha1').update(text).digest('hex');
}

function render(shard: RunShard): string {
  return `{\n  "apiVersion": "coffer.dev/v1alpha1",\n  "kind": "${RUN_INDEX_KIND}",\n  "digest": "${shard.digest}",\n  "items": [${shard.items.length ? `\n${shard.items.map((r) => `    ${JSON.stringify(r)}`).join(',\n')}\n  ` : ''}]\n}\n`;
}

function parseShard(text: string): RunShard | undefined {
  try {
    const v = JSON.parse(text) as RunShard;
    return v?.kind === RUN_INDEX_KIND && typeof v.digest === 'string' && Array.isArray(v.items) ? v : undefined;
  } catch {
    return undefined;
  }
}

function readRun(objects: ObjectReader, path: string, oid: string, problems: CatalogProblem[]): RunRecord | undefined {
  try {
    const doc = parseDocument(objects.read(oid).data.toString('utf8')) as RunRecord;
    if (doc?.kind === 'Run' && typeof doc.status?.startTime === 'string' && typeof doc.metadata?.name === 'string') return doc;
    problems.push({ path, line: 1, message: 'not a Run record' });
  } catch (e) {
    if (!(e instanceof DocumentParseError)) throw e;
    problems.push({ path, ...e.failure });
  }
  return undefined;
}

/**
 * The runs of one day directory (tree `dayTree`), from its hourly shards where they match and from the documents
 * where they do not. `stale` counts the hours read from documents. With `want`, an hour none of whose file names it
 * wants is skipped unread.
 */
export function readDay(objects: ObjectReader, runsDir: string, cluster: string, day: string, dayTree: string, shardTree: string | undefined, want?: (file: string) => boolean): { runs: RunRecord[]; problems: CatalogProblem[]; stale: number } {
  const byHour = new Map<string, Array<{ name: string; oid: string }>>();
  for (const e of objects.readTree(dayTree)) {
    if (e.type !== 'blob' || !e.name.endsWith('.yaml')) continue;
    const h = runHour(e.name);
    const list = byHour.get(h);
    if (list) list.push(e);
    else byHour.set(h, [e]);
  }
  let shards: Map<string, string> | undefined; // read on the first wanted hour: a day may be skipped whole
  const runs: RunRecord[] = [];
  const problems: CatalogProblem[] = [];
  let stale = 0;
  for (const [hour, entries] of byHour) {
    if (want && !entries.some((e) => want(e.name))) continue;
    shards ??= new Map(shardTree ? objects.readTree(shardTree).map((e) => [e.name, e.oid]) : []);
    const oid = shards.get(`${hour}.json`);
    const shard = oid ? parseShard(objects.read(oid).data.toString('utf8')) : undefined;
    if (shard && shard.digest === digest(entries)) {
      runs.push(...shard.items);
      continue;
    }
    stale++;
    for (const e of entries) {
      const r = readRun(objects, `${runsDir}/${cluster}/${day}/${e.name}`, e.oid, problems);
      if (r) runs.push(r);
    }
  }
  return { runs, problems, stale };
}

/** Keeps the hourly shards of every run day directory a change touches current, in the same commit. */
export function runIndexDeriver(runsDir: string): Deriver {
  return ({ gitdir, baseTree, edits }) => {
    const out: TreeEdits = new Map();
    const touched = new Map<string, Map<string, string | null>>(); // "<cluster>/<day>" → file → oid
    for (const [path, oid] of edits) {
      const parts = path.split('/');
      if (parts.length !== 4 || parts[0] !== runsDir || parts[1]!.startsWith('.') || !/^\d{4}-\d{2}-\d{2}$/.test(parts[2]!) || !parts[3]!.endsWith('.yaml')) continue;
      const key = `${parts[1]}/${parts[2]}`;
      let m = touched.get(key);
      if (!m) touched.set(key, (m = new Map()));
      m.set(parts[3]!, oid);
    }
    if (!touched.size) return out;
    const objects = objectReader(gitdir);
    for (const [key, changes] of touched) {
      const [cluster, day] = key.split('/') as [string, string];
      const dayTree = baseTree ? objects.treeAt(baseTree, `${runsDir}/${cluster}/${day}`) : undefined;
      const shardTree = baseTree ? objects.treeAt(baseTree, `${runsDir}/${INDEX_DIR}/${cluster}/${day}`) : undefined;
      const shards = new Map(shardTree ? objects.readTree(shardTree).map((e) => [e.name, e.oid]) : []);
      const base = dayTree ? objects.readTree(dayTree).filter((e) => e.type === 'blob' && e.name.endsWith('.yaml')) : [];
      for (const hour of new Set([...changes.keys()].map(runHour))) {
        const before = base.filter((e) => runHour(e.name) === hour);
        const after = new Map(before.map((e) => [e.name, e.oid]));
        for (const [file, oid] of changes) {
          if (runHour(file) !== hour) continue;
          if (oid === null) after.delete(file);
          else after.set(file, oid);
        }
        const where = runShardPath(runsDir, cluster, day, hour);
        if (!after.size) {
          out.set(where, null);
          continue;
        }
        const old = shards.get(`${hour}.json`);
        const previous = old ? parseShard(objects.read(old).data.toString('utf8')) : undefined;
        const items = new Map<string, RunRecord>();
        // A shard that matched the base is updated; otherwise the hour is rebuilt from its documents.
        const trusted = previous && previous.digest === digest(before);
        if (trusted) for (const r of previous.items) items.set(`${r.metadata.name}.yaml`, r);
        for (const [file, oid] of after) {
          if (trusted && !changes.has(file)) continue;
          items.delete(file);
          const r = readRun(objects, `${runsDir}/${cluster}/${day}/${file}`, oid, []);
          if (r) items.set(file, r);
        }
        for (const [file, oid] of changes) if (oid === null) items.delete(file);
        const shard: RunShard = {
          apiVersion: 'coffer.dev/v1alpha1',
          kind: RUN_INDEX_KIND,
          digest: digest([...after].map(([name, oid]) => ({ name, oid }))),
          items: [...items.values()].sort((a, b) => cmp(a.status.startTime, b.status.startTime) || cmp(a.metadata.name, b.metadata.name)),
        };
        out.set(where, writeObject(gitdir, 'blob', Buffer.from(render(shard)), objects));
      }
    }
    return out;
  };
}

/** Every shard a day directory should have, from its documents: what `coffer catalog reindex` writes. */
export function buildDayShards(objects: ObjectReader, runsDir: string, cluster: string, day: string, dayTree: string): Map<string, string> {
  const entries = objects.readTree(dayTree).filter((e) => e.type === 'blob' && e.name.endsWith('.yaml'));
  return dayShards(runsDir, cluster, day, entries, (e) => readRun(objects, `${runsDir}/${cluster}/${day}/${e.name}`, e.oid, []));
}

/** The shards of a day's run files (name, blob oid, and the record each holds): also how the bench writes archived days. */
export function dayShards<E extends { name: string; oid: string }>(runsDir: string, cluster: string, day: string, entries: readonly E[], run: (e: E) => RunRecord | undefined): Map<string, string> {
  const byHour = new Map<string, E[]>();
  for (const e of entries) {
    const list = byHour.get(runHour(e.name)) ?? [];
    list.push(e);
    byHour.set(runHour(e.name), list);
  }
  const out = new Map<string, string>();
  for (const [hour, list] of byHour) {
    const items = list.flatMap((e) => run(e) ?? []);
    items.sort((a, b) => cmp(a.status.startTime, b.status.startTime) || cmp(a.metadata.name, b.metadata.name));
    out.set(runShardPath(runsDir, cluster, day, hour), render({ apiVersion: 'coffer.dev/v1alpha1', kind: RUN_INDEX_KIND, digest: digest(list), items }));
  }
  return out;
}
