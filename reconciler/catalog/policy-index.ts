import { checkSegment } from './layout.ts';
import { cmp, INDEX_DIR } from './summary.ts';

/**
 * Where one policy's directories are, without reading every namespace's tree. A policy's restore points sit in one
 * directory per namespace (`<catalogDir>/<cluster>/<ns>/<policy>/`), so listing it walked all namespace trees — at
 * 100,000 restore points in 100 namespaces, 100 trees, each a delta chain in a packed history (~3,000 inflates). Two
 * more derived files, written in the same commit as the documents:
 *
 *   <catalogDir>/.index/.clusters/<cluster>.json          ClusterIndex: the oid of the `<catalogDir>/<cluster>` tree
 *                                                          it was written with, and the blob oid of each PolicyIndex
 *   <catalogDir>/.index/.policies/<cluster>/<policy>.json  PolicyIndex: per namespace holding a directory of the
 *                                                          policy, that directory's tree oid and its index's blob oid
 *
 * Any change to a document of the cluster changes the cluster tree's oid, so one comparison vouches for every
 * PolicyIndex the ClusterIndex names (and the PolicyIndex for the directories' trees, which each directory's index
 * must name in turn): after a plain-git commit or a merge they disagree and readers walk the namespace trees as before.
 * A backup rewrites the small ClusterIndex and the one PolicyIndex it touches, never all of them. Both live under
 * dot-directories, which no cluster name can be (layout.ts `checkSegment`).
 */
export const CLUSTER_INDEX_KIND = 'ClusterIndex';
export const POLICY_INDEX_KIND = 'PolicyIndex';
export const CLUSTERS_DIR = '.clusters';
export const POLICIES_DIR = '.policies';

/** One namespace's directory of a policy: its tree, and the blob at `.index/<cluster>/<ns>/<policy>.json` if any. */
export interface PolicyDirectory {
  namespace: string;
  tree: string;
  index?: string;
}

export interface PolicyIndex {
  apiVersion: 'coffer.dev/v1alpha1';
  kind: typeof POLICY_INDEX_KIND;
  policy: string;
  /** Sorted by namespace. */
  directories: PolicyDirectory[];
}

export interface ClusterIndex {
  apiVersion: 'coffer.dev/v1alpha1';
  kind: typeof CLUSTER_INDEX_KIND;
  cluster: string;
  /** The oid of the cluster's tree of documents this index was written with. */
  tree: string;
  /** policy → blob oid of its PolicyIndex, sorted by policy. */
  policies: Record<string, string>;
}

export function clusterIndexPath(catalogDir: string, cluster: string): string {
  return `${catalogDir}/${INDEX_DIR}/${CLUSTERS_DIR}/${cluster}.json`;
}

export function policyIndexPath(catalogDir: string, cluster: string, policy: string): string {
  return `${catalogDir}/${INDEX_DIR}/${POLICIES_DIR}/${cluster}/${policy}.json`;
}

/** One directory per line, like the restore point index: `git log -p` shows which directory moved. */
export function renderPolicyIndex(policy: string, directories: readonly PolicyDirectory[]): string {
  const sorted = [...directories].sort((a, b) => cmp(a.namespace, b.namespace));
  const lines = sorted.map((d) => `    ${JSON.stringify({ namespace: d.namespace, tree: d.tree, ...(d.index ? { index: d.index } : {}) })}`).join(',\n');
  return `{\n  "apiVersion": "coffer.dev/v1alpha1",\n  "kind": "${POLICY_INDEX_KIND}",\n  "policy": ${JSON.stringify(policy)},\n  "directories": [${lines ? `\n${lines}\n  ` : ''}]\n}\n`;
}

export function renderClusterIndex(cluster: string, tree: string, policies: ReadonlyMap<string, string>): string {
  const lines = [...policies].sort(([a], [b]) => cmp(a, b)).map(([p, oid]) => `    ${JSON.stringify(p)}: "${oid}"`).join(',\n');
  return `{\n  "apiVersion": "coffer.dev/v1alpha1",\n  "kind": "${CLUSTER_INDEX_KIND}",\n  "cluster": ${JSON.stringify(cluster)},\n  "tree": "${tree}",\n  "policies": {${lines ? `\n${lines}\n  ` : ''}}\n}\n`;
}

const OID = /^[0-9a-f]{40}$/;

/** The file's content, or undefined when it is not one this version writes (then it is rebuilt, never trusted). */
export function parsePolicyIndex(text: string): PolicyIndex | undefined {
  const v = parseJson(text) as PolicyIndex | undefined;
  if (v?.kind !== POLICY_INDEX_KIND || typeof v.policy !== 'string' || !Array.isArray(v.directories)) return undefined;
  const ok = segment(v.policy) && v.directories.every((d) => segment(d?.namespace) && OID.test(d.tree) && (d.index === undefined || OID.test(d.index)));
  return ok ? v : undefined;
}

export function parseClusterIndex(text: string): ClusterIndex | undefined {
  const v = parseJson(text) as ClusterIndex | undefined;
  if (v?.kind !== CLUSTER_INDEX_KIND || typeof v.cluster !== 'string' || !OID.test(v.tree ?? '') || typeof v.policies !== 'object' || v.policies === null) return undefined;
  return Object.entries(v.policies).every(([p, oid]) => segment(p) && typeof oid === 'string' && OID.test(oid)) ? v : undefined;
}

/** A name that can be a path segment of the catalog (what Coffer writes; a hand-made file may name anything). */
function segment(name: unknown): boolean {
  try {
    return typeof name === 'string' && checkSegment('name', name) === name;
  } catch {
    return false;
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * The files a cluster's directories call for: one PolicyIndex per policy and the ClusterIndex naming them, as path →
 * content. `blobId` gives a content's oid (the ClusterIndex names its PolicyIndexes by oid). Pure: what `coffer
 * catalog reindex` writes and what a commit rebuilds when the ClusterIndex it starts from does not vouch for its base.
 */
export function policyFiles(
  catalogDir: string,
  cluster: string,
  clusterTree: string,
  dirs: ReadonlyArray<PolicyDirectory & { policy: string }>,
  blobId: (content: string) => string,
): Map<string, string> {
  const byPolicy = new Map<string, PolicyDirectory[]>();
  for (const { policy, ...d } of dirs) {
    let list = byPolicy.get(policy);
    if (!list) byPolicy.set(policy, (list = []));
    list.push(d);
  }
  const out = new Map<string, string>();
  const oids = new Map<string, string>();
  for (const [policy, list] of byPolicy) {
    const text = renderPolicyIndex(policy, list);
    out.set(policyIndexPath(catalogDir, cluster, policy), text);
    oids.set(policy, blobId(text));
  }
  out.set(clusterIndexPath(catalogDir, cluster), renderClusterIndex(cluster, clusterTree, oids));
  return out;
}
