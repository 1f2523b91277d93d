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
  const s = Math.max(0, Math.floor((now.getTime() - isoMillis(from)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172_800) return `${Math.floor(s / 3600)}h`;
  if (s < 365 * 86_400 * 2) return `${Math.floor(s / 86_400)}d`;
  return `${Math.floor(s / (365 * 86_400))}y`;
}

/**
 * `Date.parse` of a UTC time as Coffer writes them (`2026-01-01T05:00:00.000Z`, or without the fraction), read digit by
 * digit: a table of 100,000 restore points parses each time twice (widths, then lines) and `Date.parse` was the
 * largest part of that. Anything else — another shape, a day past the 28th, a two-digit year — goes to `Date.parse`.
 */
export function isoMillis(t: string): number {
  const n = t.length;
  if ((n !== 20 && n !== 24) || t.charCodeAt(n - 1) !== 90 /* Z */ || t.charCodeAt(4) !== 45 || t.charCodeAt(7) !== 45 || t.charCodeAt(10) !== 84 || t.charCodeAt(13) !== 58 || t.charCodeAt(16) !== 58) return Date.parse(t);
  if (n === 24 && t.charCodeAt(19) !== 46) return Date.parse(t);
  const y = digits(t, 0, 4);
  const mo = digits(t, 5, 2);
  const d = digits(t, 8, 2);
  const h = digits(t, 11, 2);
  const mi = digits(t, 14, 2);
  const sec = digits(t, 17, 2);
  const ms = n === 24 ? digits(t, 20, 3) : 0;
  if (y < 100 || mo < 1 || mo > 12 || d < 1 || d > 28 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59 || ms < 0) return Date.parse(t);
  // Days since 1970-01-01 of a proleptic Gregorian date, in integers (Date.UTC is a call into the runtime each time):
  // years counted from March, so the leap day ends a year; 146,097 days in 400 years.
  const ya = mo <= 2 ? y - 1 : y;
  const era = Math.floor(ya / 400);
  const yoe = ya - era * 400;
  const doy = Math.floor((153 * (mo > 2 ? mo - 3 : mo + 9) + 2) / 5) + d - 1;
  const days = era * 146_097 + yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy - 719_468;
  return days * 86_400_000 + h * 3_600_000 + mi * 60_000 + sec * 1000 + ms;
}

/** The decimal number of `len` ASCII digits at `at`, or -1 when one is not a digit. */
function digits(t: string, at: number, len: number): number {
  let v = 0;
  for (let i = at; i < at + len; i++) {
    const c = t.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

/** "1m30s", "2h5m": a run's duration. */
export function duration(start: string | undefined, end: string | undefined): string {
  if (!start || !end) return '-';
  const s = Math.max(0, Math.round((Date.parse(end) - Date.parse(start)) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60 ? `${s % 60}s` : ''}`;
  return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
}
