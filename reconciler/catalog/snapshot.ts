import type { ObjectReader } from '../git/objects.ts';
import { CLUSTERS_DIR, parseClusterIndex, parsePolicyIndex, type ClusterIndex, type PolicyIndex } from './policy-index.ts';
import {
  CatalogDocumentError,
  cmp,
  INDEX_DIR,
  indexItem,
  parseIndex,
  parseRestorePoint,
  sortItems,
  type CatalogProblem,
  type IndexItem,
  type RestorePointIndex,
  type RestorePointSummary,
} from './summary.ts';
import type { RestorePoint } from './types.ts';

/** One (cluster, namespace, policy) directory of restore points at a commit, and its index file if there is one. */
export interface PointDir {
  cluster: string;
  namespace: string;
  policy: string;
  /** `<catalogDir>/<cluster>/<namespace>/<policy>` */
  path: string;
  /** Oid of the directory's tree: what its index must name to be trusted. */
  tree: string;
  /** Oid of `<catalogDir>/.index/<cluster>/<namespace>/<policy>.json`, when present. */
  index?: string;
}

export interface DirFilter {
  /** undefined: every cluster. */
  cluster?: string | undefined;
  namespace?: string | undefined;
  policy?: string | undefined;
}

export interface DirSummaries {
  items: RestorePointSummary[];
  problems: CatalogProblem[];
  /** False when the index was missing or named another tree, so the documents were read instead. */
  indexed: boolean;
}

/**
 * The catalog's restore points at one commit (or root tree), read through an `ObjectReader` (bulk, synchronous object
 * access). Only the trees on the requested paths are read; a directory's documents are read only when its index does
 * not vouch for them (or when the caller wants the full documents).
 */
export class CatalogSnapshot {
  private readonly root: string | undefined;

  /** `rootish`: a commit or a root tree oid; undefined for an empty catalog (no branch yet). */
  constructor(
    readonly objects: ObjectReader,
    readonly catalogDir: string,
    readonly rootish: string | undefined,
  ) {
    this.root = rootish ? objects.treeAt(rootish, catalogDir) : undefined;
  }

  dir(cluster: string, namespace: string, policy: string): PointDir | undefined {
    return this.dirs({ cluster, namespace, policy })[0];
  }

  /**
   * Directories matching the filter, sorted by cluster, namespace, policy (code-unit order, like the continue keys).
   * Without a namespace, a cluster whose ClusterIndex vouches for its PolicyIndexes (policy-index.ts) is read from
   * those — one blob per policy instead of every namespace's tree; `walk` reads the trees anyway (what check trusts).
   */
  dirs(filter: DirFilter = {}, opts: { walk?: boolean } = {}): PointDir[] {
    if (!this.root) return [];
    const out: PointDir[] = [];
    const indexRoot = this.child(this.root, INDEX_DIR, 'tree');
    for (const c of this.entries(this.root, 'tree', filter.cluster)) {
      if (c.name.startsWith('.')) continue;
      const vouched = filter.namespace === undefined && !opts.walk ? this.policyDirs(c.name, c.oid, filter.policy) : undefined;
      if (vouched) {
        out.push(...vouched);
        continue;
      }
      const ic = indexRoot && this.child(indexRoot, c.name, 'tree');
      for (const n of this.entries(c.oid, 'tree', filter.namespace)) {
        const inn = ic && this.child(ic, n.name, 'tree');
        const indexFiles = inn ? new Map(this.entries(inn, 'blob').map((e) => [e.name, e.oid])) : undefined;
        for (const p of this.entries(n.oid, 'tree', filter.policy)) {
          const index = indexFiles?.get(`${p.name}.json`);
          out.push({ cluster: c.name, namespace: n.name, policy: p.name, path: `${this.catalogDir}/${c.name}/${n.name}/${p.name}`, tree: p.oid, ...(index ? { index } : {}) });
        }
      }
    }
    return out;
  }

  /** The oid of `<catalogDir>/<cluster>`, or undefined when the cluster has no documents. */
  clusterTree(cluster: string): string | undefined {
    return this.root && this.child(this.root, cluster, 'tree');
  }

  /** The cluster's ClusterIndex as committed (it vouches for nothing until its `tree` is compared), if readable. */
  clusterIndex(cluster: string): ClusterIndex | undefined {
    const oid = this.indexBlob([CLUSTERS_DIR], `${cluster}.json`);
    return oid ? parseClusterIndex(this.objects.read(oid).data.toString('utf8')) : undefined;
  }

  /** A PolicyIndex by blob oid, if present and readable. */
  policyIndex(oid: string): PolicyIndex | undefined {
    try {
      return parsePolicyIndex(this.objects.read(oid).data.toString('utf8'));
    } catch (e) {
      if ((e as { code?: string }).code === 'E_GIT_OBJECT_MISSING') return undefined; // a hand-written ClusterIndex naming nothing
      throw e;
    }
  }

  /** Every blob under `<catalogDir>/.index/` (path → oid): what check compares with what the documents call for. */
  indexFiles(): Map<string, string> {
    const out = new Map<string, string>();
    const visit = (tree: string, base: string): void => {
      for (const e of this.objects.readTree(tree)) {
        if (e.type === 'tree') visit(e.oid, `${base}/${e.name}`);
        else if (e.type === 'blob') out.set(`${base}/${e.name}`, e.oid);
      }
    };
    const indexRoot = this.root && this.child(this.root, INDEX_DIR, 'tree');
    if (indexRoot) visit(indexRoot, `${this.catalogDir}/${INDEX_DIR}`);
    return out;
  }

  /**
   * The cluster's directories from its PolicyIndexes, when its ClusterIndex names exactly this cluster tree (then
   * every directory tree and index oid in them is the one this commit holds); undefined when it does not, or when a
   * file it names is unreadable — the caller walks the trees instead.
   */
  private policyDirs(cluster: string, clusterTree: string, policy: string | undefined): PointDir[] | undefined {
    const seal = this.clusterIndex(cluster);
    if (!seal || seal.tree !== clusterTree) return undefined;
    const out: PointDir[] = [];
    for (const [name, oid] of Object.entries(seal.policies)) {
      if (policy !== undefined && name !== policy) continue;
      const pi = this.policyIndex(oid);
      if (!pi || pi.policy !== name) return undefined;
      for (const d of pi.directories) {
        out.push({ cluster, namespace: d.namespace, policy: name, path: `${this.catalogDir}/${cluster}/${d.namespace}/${name}`, tree: d.tree, ...(d.index ? { index: d.index } : {}) });
      }
    }
    return out.sort((a, b) => cmp(a.namespace, b.namespace) || cmp(a.policy, b.policy));
  }

  private indexBlob(dirs: readonly string[], name: string): string | undefined {
    let tree = this.root && this.child(this.root, INDEX_DIR, 'tree');
    for (const d of dirs) tree = tree && this.child(tree, d, 'tree');
    return tree && this.child(tree, name, 'blob');
  }

  /** The index of a directory, if present, parseable and built from exactly this tree. */
  trustedIndex(dir: PointDir): RestorePointIndex | undefined {
    if (!dir.index) return undefined;
    const index = parseIndex(this.objects.read(dir.index).data.toString('utf8'));
    return index && index.tree === dir.tree ? index : undefined;
  }

  summaries(dir: PointDir): DirSummaries {
    const index = this.trustedIndex(dir);
    if (index) {
      return {
        items: index.items.map((i) => toSummary(dir, i)),
        problems: index.problems.map(({ file, ...p }) => ({ path: `${dir.path}/${file}`, ...p })),
        indexed: true,
      };
    }
    const built = this.buildIndex(dir);
    return { items: built.items.map((i) => toSummary(dir, i)), problems: built.problems.map(({ file, ...p }) => ({ path: `${dir.path}/${file}`, ...p })), indexed: false };
  }

  /** Every document of the directory, oldest first; unparseable ones are returned as problems, never thrown. */
  documents(dir: PointDir): { entries: Array<{ path: string; doc: RestorePoint }>; problems: CatalogProblem[] } {
    const entries: Array<{ path: string; doc: RestorePoint }> = [];
    const problems: CatalogProblem[] = [];
    for (const e of this.entries(dir.tree, 'blob')) {
      if (!e.name.endsWith('.yaml')) continue;
      const path = `${dir.path}/${e.name}`;
      try {
        entries.push({ path, doc: parseRestorePoint(path, this.objects.read(e.oid).data.toString('utf8')) });
      } catch (err) {
        if (!(err instanceof CatalogDocumentError)) throw err;
        problems.push(err.problem);
      }
    }
    entries.sort((a, b) => cmp(a.doc.spec.startTime, b.doc.spec.startTime) || cmp(a.doc.metadata.name, b.doc.metadata.name));
    return { entries, problems };
  }

  /** The index this directory should have: what `coffer catalog reindex` writes and every commit keeps current. */
  buildIndex(dir: PointDir): RestorePointIndex {
    const { entries, problems } = this.documents(dir);
    return {
      apiVersion: 'coffer.dev/v1alpha1',
      kind: 'RestorePointIndex',
      tree: dir.tree,
      items: sortItems(entries.map((e) => indexItem(e.doc, e.path.slice(e.path.lastIndexOf('/') + 1)))),
      problems: problems.map(({ path, ...p }) => ({ file: path.slice(path.lastIndexOf('/') + 1), ...p })),
    };
  }

  /** One document by path, or undefined when it is not there. */
  document(path: string): RestorePoint | undefined {
    return this.documentsAt([path])[0];
  }

  /**
   * Documents by path, in the order given (undefined where one is not there): each directory's tree is looked up once
   * for the paths of it that follow each other, so a page of a listing reads as many trees as it spans directories.
   */
  documentsAt(paths: readonly string[]): Array<RestorePoint | undefined> {
    const out: Array<RestorePoint | undefined> = [];
    let dir: string | undefined;
    let blobs = new Map<string, string>();
    for (const path of paths) {
      const slash = path.lastIndexOf('/');
      if (path.slice(0, slash) !== dir) {
        dir = path.slice(0, slash);
        const tree = this.rootish && this.objects.treeAt(this.rootish, dir);
        blobs = new Map(tree ? this.objects.readTree(tree).flatMap((e) => (e.type === 'blob' ? [[e.name, e.oid] as const] : [])) : []);
      }
      const oid = blobs.get(path.slice(slash + 1));
      out.push(oid ? parseRestorePoint(path, this.objects.read(oid).data.toString('utf8')) : undefined);
    }
    return out;
  }

  private entries(tree: string, type?: 'tree' | 'blob', only?: string): Array<{ name: string; oid: string }> {
    const out = this.objects.readTree(tree).filter((e) => (!type || e.type === type) && (only === undefined || e.name === only));
    return out.sort((a, b) => cmp(a.name, b.name));
  }

  private child(tree: string, name: string, type: 'tree' | 'blob'): string | undefined {
    return this.objects.readTree(tree).find((e) => e.name === name && e.type === type)?.oid;
  }
}

/**
 * The item's fields after the directory's, `file` turned into `path`: the same object as `{ ...dir keys, ...rest, path }`
 * (own enumerable keys in the same order), built without the rest/spread copies, which were a fifth of listing 100,000.
 */
function toSummary(dir: PointDir, item: IndexItem): RestorePointSummary {
  const out = { cluster: dir.cluster, namespace: dir.namespace, policy: dir.policy } as RestorePointSummary & Record<string, unknown>;
  for (const k in item) if (k !== 'file') out[k] = item[k as keyof IndexItem];
  out.path = `${dir.path}/${item.file ?? `${item.name}.yaml`}`;
  return out;
}
