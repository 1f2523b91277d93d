import { fastDocuments } from '../../compiler/load/yaml-fast.ts';
import type { Logger } from '../git/branch-writer.ts';
import { GitSourceError } from '../git/errors.ts';
import { openSource, type GitSource, type SourceRevision } from '../git/source.ts';
import { Catalog, DEFAULT_CATALOG_BRANCH, type Identity } from './index.ts';

/** What coffer.yaml says about the catalog; absent fields take Coffer's defaults. */
export interface CatalogConfig {
  cluster?: string;
  branch: string;
  path: string;
}

/** Reads `spec.cluster` and `spec.catalog` from coffer.yaml at the policy branch's committed tip (never the working copy). */
export async function readCatalogConfig(rev: SourceRevision): Promise<CatalogConfig> {
  const raw = await rev.readFile('coffer.yaml');
  const cfg: CatalogConfig = { branch: DEFAULT_CATALOG_BRANCH, path: 'catalog' };
  if (!raw) return cfg;
  let doc: { spec?: { cluster?: unknown; catalog?: { branch?: unknown; path?: unknown } } } | undefined;
  try {
    // js-yaml where it reads exactly what `yaml` would (yaml-fast.ts); the `yaml` library, loaded then, for the rest.
    const text = Buffer.from(raw).toString('utf8');
    const fast = fastDocuments(text);
    doc = (fast?.length === 1 ? fast[0] : (await import('yaml')).default.parse(text)) as typeof doc;
  } catch (e) {
    throw new GitSourceError('E_CONFIG', `coffer.yaml at ${rev.commit.slice(0, 12)}: ${(e as Error).message}`);
  }
  if (typeof doc?.spec?.cluster === 'string') cfg.cluster = doc.spec.cluster;
  if (typeof doc?.spec?.catalog?.branch === 'string') cfg.branch = doc.spec.catalog.branch;
  if (typeof doc?.spec?.catalog?.path === 'string') cfg.path = doc.spec.catalog.path;
  return cfg;
}

export interface CatalogFlags {
  /** --source: URL or path (default: the current directory). */
  source?: string;
  /** --branch: the policy branch coffer.yaml is read from. */
  branch?: string;
  /** --catalog-branch: overrides coffer.yaml. */
  catalogBranch?: string;
  /** --cluster: overrides coffer.yaml's spec.cluster. */
  cluster?: string;
  /** -A: the caller reads every cluster, so the catalog needs no cluster of its own (a DR workstation's repository). */
  allClusters?: boolean;
  cacheDir?: string;
  author?: Identity;
  log?: Logger;
  env: NodeJS.ProcessEnv;
  cwd: string;
}

/** Opens the catalog the way every command does: source → coffer.yaml at the policy tip → catalog branch and cluster. */
export async function openCatalogFromFlags(f: CatalogFlags): Promise<{ source: GitSource; catalog: Catalog; config: CatalogConfig }> {
  const given = f.source ?? f.env.COFFER_SOURCE ?? f.cwd;
  const source = await openSource({
    source: /^[a-z][a-z0-9+.-]*:\/\//i.test(given) || /^[\w.-]+@[\w.-]+:/.test(given) ? given : resolvePath(f.cwd, given),
    ...(f.branch ? { branch: f.branch } : {}),
    ...(f.cacheDir ? { cacheDir: f.cacheDir } : {}),
    env: f.env,
  });
  let config: CatalogConfig = { branch: DEFAULT_CATALOG_BRANCH, path: 'catalog' };
  try {
    config = await readCatalogConfig(await source.fetch());
  } catch (e) {
    // A catalog-only repository (no policy branch) is still readable when the flags say where to look.
    if (!((e as { code?: string }).code === 'E_GIT_REF_NOT_FOUND' && f.catalogBranch && (f.cluster || f.allClusters))) throw e;
  }
  const cluster = f.cluster ?? config.cluster;
  if (!cluster && !f.allClusters) throw new GitSourceError('E_CONFIG', `${source.location}: coffer.yaml has no spec.cluster; pass --cluster`);
  const catalog = new Catalog({
    source,
    ...(cluster ? { cluster } : {}),
    branch: f.catalogBranch ?? config.branch,
    catalogDir: config.path,
    ...(f.author ? { author: f.author } : {}),
    ...(f.log ? { log: f.log } : {}),
  });
  return { source, catalog, config: { ...config, ...(cluster ? { cluster } : {}) } };
}

function resolvePath(cwd: string, p: string): string {
  return p.startsWith('/') ? p : `${cwd.replace(/\/+$/, '')}/${p}`;
}

/** Left-aligned columns separated by three spaces, upper-case headers: the layout kubectl prints. */
export function formatTable(headers: string[], rows: string[][]): string {
  const widths = columnWidths(headers);
  for (const r of rows) widenColumns(widths, r);
  // Concatenation into one string (100,000 rows: a map and a join per line cost as much as reading the catalog).
  let out = `${tableLine(headers, widths)}\n`;
  for (const r of rows) out += `${tableLine(r, widths)}\n`;
  return out;
}

/** The starting widths of a table's columns: its headers'. */
export function columnWidths(headers: readonly string[]): number[] {
  return headers.map((h) => h.length);
}

/** Widens `widths` to fit one row (a loop, not Math.max(...column): spreading 100,000 cells is slow, then a RangeError). */
export function widenColumns(widths: number[], cells: readonly string[]): void {
  for (let i = 0; i < widths.length; i++) {
    const n = (cells[i] ?? '').length;
    if (n > widths[i]!) widths[i] = n;
  }
}

/** One line of a table: every cell but the last padded to its column, joined by three spaces, trailing blanks cut. */
export function tableLine(cells: readonly string[], widths: readonly number[]): string {
  const last = cells.length - 1;
  if (last < 0) return '';
  let s = '';
  for (let i = 0; i < last; i++) s += `${cells[i]!.padEnd(widths[i]!)}   `;
  const tail = cells[last] ?? '';
  // trimEnd copies the whole line into one flat string: only when there can be blanks to cut (an empty last cell, or
  // one ending in anything but printable ASCII — trimEnd's whitespace includes non-ASCII spaces).
  const c = tail.charCodeAt(tail.length - 1);
  return c > 32 && c < 127 ? s + tail : `${s}${tail}`.trimEnd();
}

/** kubectl's age column: 45s, 12m, 5h, 3d, 2y. */
export function age(from: string | undefined, now: Date): string {
  if (!from) return '<unknown>';
  const s = Math.max(0, Math.floor((now.getTime() - Date.parse(from)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172_800) return `${Math.floor(s / 3600)}h`;
  if (s < 365 * 86_400 * 2) return `${Math.floor(s / 86_400)}d`;
  return `${Math.floor(s / (365 * 86_400))}y`;
}

/** "1m30s", "2h5m": a run's duration. */
export function duration(start: string | undefined, end: string | undefined): string {
  if (!start || !end) return '-';
  const s = Math.max(0, Math.round((Date.parse(end) - Date.parse(start)) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60 ? `${s % 60}s` : ''}`;
  return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
}
